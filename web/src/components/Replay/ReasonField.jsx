/** What the server accepts as a reason for access (3 to 500 characters, one line). */
export const REASON_MIN = 3;
export const REASON_MAX = 500;

export function reasonProblem(reason) {
  const n = [...reason.trim()].length;
  if (n < REASON_MIN) return `Give a reason of at least ${REASON_MIN} characters.`;
  if (n > REASON_MAX) return `At most ${REASON_MAX} characters (${n - REASON_MAX} too many).`;
  return null;
}

/**
 * The operator's required "reason for access", with what it entails: every
 * access is recorded in the conversation's log and shown to both
 * participants.
 */
export default function ReasonField({ value, onChange, error, id = 'reason' }) {
  return (
    <div className="field">
      <label htmlFor={id}>Reason for access</label>
      <textarea
        id={id}
        rows={2}
        value={value}
        maxLength={REASON_MAX * 2}
        required
        aria-required="true"
        aria-invalid={error ? 'true' : 'false'}
        aria-describedby={`${id}-hint${error ? ` ${id}-error` : ''}`}
        placeholder="e.g. Refund dispute #812: customer says the bike never arrived"
        onChange={(e) => onChange(e.target.value.replace(/[\r\n]+/g, ' '))}
        data-testid="reason-input"
      />
      <p id={`${id}-hint`} className="field-hint">
        Every access is recorded in the conversation’s log with this reason, your name and the time, and both
        participants see it in their history.
      </p>
      {error && (
        <p id={`${id}-error`} className="form-error" role="alert" data-testid="reason-error">
          {error}
        </p>
      )}
    </div>
  );
}
