import { hueOf, initials } from '../../utils/format.js';

/**
 * Initials on a colour of the user's own, with an online dot when known: a
 * filled green dot online, a hollow ring offline. A screen reader hears
 * "online" (unless `announce` is false, where the status is written out
 * beside it); the picture itself is decoration.
 */
export default function Avatar({ id, name, online, size = 44, announce = true }) {
  const hue = hueOf(id ?? name);
  const avatar = (
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
  if (!online || !announce) return avatar;
  return (
    <>
      {avatar}
      <span className="sr-only">online, </span>
    </>
  );
}
