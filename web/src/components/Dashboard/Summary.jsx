import { formatDuration, responseChange } from './format.js';

function Stat({ label, value, hint, testId, raw, tone }) {
  return (
    <div className={`dash-stat ${tone ? `dash-stat-${tone}` : ''}`} data-testid={testId} data-value={raw}>
      <dt>{label}</dt>
      <dd>
        <span className="dash-stat-value">{value}</span>
        {hint && <span className="dash-stat-hint">{hint}</span>}
      </dd>
    </div>
  );
}

/** The median's change from the period of the same length just before. */
function Change({ current, previous, days }) {
  const change = responseChange(current, previous);
  const period = `the previous ${days} ${days === 1 ? 'day' : 'days'}`;
  if (!change) {
    return (
      <span className="dash-change" data-testid="response-change" data-direction="none">
        No answered conversation in {period} to compare with.
      </span>
    );
  }
  const text =
    change.direction === 'same'
      ? `The median is the same as in ${period}.`
      : `The median is ${change.percent}% ${change.direction} than in ${period}.`;
  return (
    <span className={`dash-change is-${change.direction}`} data-testid="response-change" data-direction={change.direction}>
      <span aria-hidden="true">{change.direction === 'faster' ? '▼ ' : change.direction === 'slower' ? '▲ ' : ''}</span>
      {text}
    </span>
  );
}

/** The headline figures of a range. */
export default function Summary({ figures, previous, days }) {
  const { p50, p90 } = figures.firstResponseSeconds;
  return (
    <section className="dash-card dash-summary" aria-labelledby="dash-summary-title">
      <h2 id="dash-summary-title" className="sr-only">
        Summary
      </h2>
      <dl className="dash-stats">
        <Stat label="Messages received" value={figures.messagesReceived} raw={figures.messagesReceived} testId="stat-received" />
        <Stat label="Messages sent" value={figures.messagesSent} raw={figures.messagesSent} testId="stat-sent" />
        <Stat
          label="Conversations"
          value={figures.conversations}
          raw={figures.conversations}
          hint={`${figures.newConversations} new`}
          testId="stat-conversations"
        />
        <Stat
          label="Unread now"
          value={figures.unreadBacklog}
          raw={figures.unreadBacklog}
          hint={figures.unreadBacklog > 0 ? 'messages waiting for you' : 'all caught up'}
          tone={figures.unreadBacklog > 0 ? 'warn' : null}
          testId="stat-unread"
        />
      </dl>
      <div className="dash-response" data-testid="stat-response">
        <h3>First response time</h3>
        <p className="dash-response-figures">
          <span data-testid="response-p50" data-value={p50 ?? ''}>
            <span className="dash-stat-value">{formatDuration(p50)}</span> typical (median)
          </span>
          <span data-testid="response-p90" data-value={p90 ?? ''}>
            <span className="dash-stat-value">{formatDuration(p90)}</span> for 9 in 10
          </span>
        </p>
        {p50 === null ? (
          <p className="muted">No conversation in this range has an answer yet.</p>
        ) : (
          <p className="muted">
            <Change current={p50} previous={previous.firstResponseSeconds.p50} days={days} />
          </p>
        )}
      </div>
    </section>
  );
}
