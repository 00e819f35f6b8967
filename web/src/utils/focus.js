// Keyboard focus helpers: the focus trap of a dialog, the first unread
// conversation of the header's unread button.

import { useEffect, useRef } from 'react';

export const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * Where Tab goes inside a dialog of `count` focusable elements when focus is
 * at `index` (-1: outside the dialog): the index to focus instead of the
 * browser's move, or null to let the browser move (inside the dialog).
 */
export function trapTarget(count, index, backwards) {
  if (count === 0) return null;
  if (index < 0) return backwards ? count - 1 : 0;
  if (backwards && index === 0) return count - 1;
  if (!backwards && index === count - 1) return 0;
  return null;
}

/** The conversation the unread button opens: the first in list order with unread messages. */
export function firstUnread(order, unread, skip) {
  return order.find((id) => id !== skip && (unread[id] ?? 0) > 0) ?? null;
}

/**
 * A modal dialog's focus: on opening, focus moves into the dialog (onto the
 * dialog itself with `initial` 'dialog', which needs tabIndex -1: a screen
 * reader reads its name and a phone opens no keyboard; else onto the element
 * `initial` selects or the first focusable one); Tab and Shift+Tab stay
 * inside; Escape calls `onClose`; on closing, focus returns to the element
 * that had it before (the dialog's opener).
 */
export function useDialogFocus(ref, onClose, initial) {
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return undefined;
    const opener = document.activeElement;
    const first =
      initial === 'dialog' ? dialog : (initial && dialog.querySelector(initial)) || dialog.querySelector(FOCUSABLE) || dialog;
    first.focus();
    const onKey = (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        close.current();
        return;
      }
      if (e.key !== 'Tab') return;
      const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent !== null);
      const to = trapTarget(items.length, items.indexOf(document.activeElement), e.shiftKey);
      if (to !== null) {
        e.preventDefault();
        items[to].focus();
      }
    };
    document.addEventListener('keydown', onKey, true);
    return () => {
      document.removeEventListener('keydown', onKey, true);
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    };
  }, [ref, initial]);
}
