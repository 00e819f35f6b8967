import { hueOf, initials } from '../../utils/format.js';

/** Initials on a colour of the user's own, with an online dot when known. */
export default function Avatar({ id, name, online, size = 44 }) {
  const hue = hueOf(id ?? name);
  return (
    <span
      className="avatar"
      style={{
        width: size,
        height: size,
        fontSize: size * 0.38,
        background: `linear-gradient(135deg, hsl(${hue} 70% 62%), hsl(${(hue + 35) % 360} 65% 48%))`,
      }}
      aria-hidden="true"
    >
      {initials(name)}
      {online !== undefined && (
        <span className={`online-dot ${online ? 'is-online' : ''}`} data-testid="online-dot" data-online={online ? 'true' : 'false'} />
      )}
    </span>
  );
}
