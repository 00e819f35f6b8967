/**
 * Whether the hash chain of the log holds up to the event shown (`chainValid`
 * of the state route): each event's hash is computed from the one before it,
 * so an event changed, removed or inserted afterwards breaks it.
 */
export default function IntegrityBadge({ chainValid }) {
  if (chainValid === true) {
    return (
      <span
        className="integrity integrity-ok"
        data-testid="integrity-badge"
        data-valid="true"
        title="Every event up to this one carries the hash of the one before it: nothing was changed, removed or inserted."
      >
        <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="2.2" aria-hidden="true">
          <path d="M12 3l7 3v5c0 4.5-3 8.3-7 10-4-1.7-7-5.5-7-10V6l7-3z" />
          <path d="M8.5 12l2.5 2.5 4.5-5" />
        </svg>
        Integrity verified
      </span>
    );
  }
  if (chainValid === false) {
    return (
      <span className="integrity integrity-bad" data-testid="integrity-badge" data-valid="false" role="alert">
        <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="2.2" aria-hidden="true">
          <path d="M12 3l9 16H3l9-16z" />
          <path d="M12 10v4M12 17h.01" />
        </svg>
        Integrity check failed: the log’s hash chain does not hold up to this event
      </span>
    );
  }
  return (
    <span className="integrity" data-testid="integrity-badge" data-valid="unknown">
      Integrity not checked
    </span>
  );
}
