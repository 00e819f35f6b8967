// Small inline icons (stroke icons drawn for this app), sized by the font.

const base = {
  width: '1em',
  height: '1em',
  viewBox: '0 0 24 24',
  fill: 'none',
  stroke: 'currentColor',
  strokeWidth: 2,
  strokeLinecap: 'round',
  strokeLinejoin: 'round',
  'aria-hidden': true,
};

export const BackIcon = (p) => (
  <svg {...base} {...p}>
    <path d="M15 18l-6-6 6-6" />
  </svg>
);
export const SendIcon = (p) => (
  <svg {...base} {...p}>
    <path d="M5 12h13" />
    <path d="M13 6l6 6-6 6" />
  </svg>
);
export const SearchIcon = (p) => (
  <svg {...base} {...p}>
    <circle cx="11" cy="11" r="7" />
    <path d="M20 20l-3.5-3.5" />
  </svg>
);
export const BagIcon = (p) => (
  <svg {...base} {...p}>
    <path d="M5 8h14l-1 12H6L5 8z" />
    <path d="M9 8V6a3 3 0 016 0v2" />
  </svg>
);
export const CloseIcon = (p) => (
  <svg {...base} {...p}>
    <path d="M6 6l12 12M18 6L6 18" />
  </svg>
);
export const ClockIcon = (p) => (
  <svg {...base} {...p}>
    <circle cx="12" cy="12" r="8" />
    <path d="M12 8v4l2.5 2" />
  </svg>
);
export const AlertIcon = (p) => (
  <svg {...base} {...p}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7.5v5.5M12 16.5v.01" />
  </svg>
);
export const ChatIcon = (p) => (
  <svg {...base} {...p}>
    <path d="M4 5h16v11H9l-5 4V5z" />
  </svg>
);
export const ArrowDownIcon = (p) => (
  <svg {...base} {...p}>
    <path d="M12 5v14M6 13l6 6 6-6" />
  </svg>
);
export const LogoutIcon = (p) => (
  <svg {...base} {...p}>
    <path d="M15 4h4v16h-4" />
    <path d="M10 8l-4 4 4 4M6 12h10" />
  </svg>
);

/** Read state of one of my messages: sending, failed, sent (one tick), read (two, blue). */
export function Ticks({ state }) {
  if (state === 'sending') return <ClockIcon className="ticks ticks-sending" data-testid="tick" data-state="sending" />;
  if (state === 'failed') return <AlertIcon className="ticks ticks-failed" data-testid="tick" data-state="failed" />;
  const read = state === 'read';
  return (
    <svg
      className={`ticks ${read ? 'ticks-read' : 'ticks-sent'}`}
      viewBox="0 0 20 12"
      width="1.35em"
      height="0.8em"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.8"
      strokeLinecap="round"
      strokeLinejoin="round"
      data-testid="tick"
      data-state={read ? 'read' : 'sent'}
      role="img"
      aria-label={read ? 'Read' : 'Sent'}
    >
      <path d="M1.5 6.5l3.5 3.5 7-8" />
      {read && <path d="M8.5 9l1 1 7-8" />}
    </svg>
  );
}
// The bell of the notification control; struck through when they are blocked.
const bell = (
  <>
    <path d="M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15z" />
    <path d="M10 20.5a2 2 0 0 0 4 0" />
  </>
);
export const BellIcon = (p) => (
  <svg {...base} {...p}>
    {bell}
  </svg>
);
export const BellOffIcon = (p) => (
  <svg {...base} {...p}>
    {bell}
    <path d="M4 4l16 16" />
  </svg>
);
