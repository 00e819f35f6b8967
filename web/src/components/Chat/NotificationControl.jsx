// In the top bar, once the page asked for notification permission: a button
// that asks again when the prompt was dismissed, or a muted sign saying where
// to allow notifications after they were declined. Nothing otherwise.

import { BellIcon, BellOffIcon } from './icons.jsx';
import useNotificationControl from '../../utils/useNotificationControl.js';

const BLOCKED =
  'Notifications are blocked for this site: allow them in your browser’s site settings to hear about new messages';

export default function NotificationControl() {
  const [control, ask] = useNotificationControl();
  if (control === 'ask') {
    return (
      <button
        type="button"
        className="icon-button"
        onClick={ask}
        aria-label="Turn on notifications for new messages"
        title="Turn on notifications"
        data-testid="notifications-ask"
      >
        <BellIcon />
      </button>
    );
  }
  if (control === 'blocked') {
    return (
      <span className="icon-button notif-blocked" role="img" aria-label={BLOCKED} title={BLOCKED} data-testid="notifications-blocked">
        <BellOffIcon />
      </span>
    );
  }
  return null;
}
