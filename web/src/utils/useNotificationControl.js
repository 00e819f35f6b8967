// The top bar's notification control (see notificationControl in notify.js):
// what to offer now, and a function that asks again. It follows the answers
// to the page's own prompts, changes made in the browser's site settings
// (where the Permissions API reports them) and the page coming back to the
// foreground.

import { useCallback, useEffect, useMemo, useState } from 'react';
import { createNotifier, PERMISSION_ANSWERED } from './notify.js';

export default function useNotificationControl(win = window) {
  const notifier = useMemo(() => createNotifier(win), [win]);
  const [control, setControl] = useState(() => notifier.control());

  useEffect(() => {
    const refresh = () => setControl(notifier.control());
    let status = null;
    let gone = false;
    win.navigator?.permissions
      ?.query?.({ name: 'notifications' })
      .then((s) => {
        if (gone) return;
        status = s;
        status.onchange = refresh;
      })
      .catch(() => {});
    win.addEventListener(PERMISSION_ANSWERED, refresh);
    win.addEventListener('focus', refresh);
    refresh();
    return () => {
      gone = true;
      if (status) status.onchange = null;
      win.removeEventListener(PERMISSION_ANSWERED, refresh);
      win.removeEventListener('focus', refresh);
    };
  }, [notifier, win]);

  const ask = useCallback(() => notifier.ask(), [notifier]);
  return [control, ask];
}
