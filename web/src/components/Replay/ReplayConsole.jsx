import { useCallback, useMemo } from 'react';
import { describeEvent, namesFrom } from './events.js';
import IntegrityBadge from './IntegrityBadge.jsx';
import ReplayControls from './ReplayControls.jsx';
import StateView from './StateView.jsx';
import Timeline, { formatWhen } from './Timeline.jsx';
import TranscriptButtons from './TranscriptButtons.jsx';
import { useReplay } from './useReplay.js';
import './replay.css';

function Failure({ error, onLatest }) {
  return (
    <div className="replay-error-box" role="alert" data-testid="replay-error">
      <p>
        {error.status === 404
          ? 'This conversation does not exist, or you are not one of its participants.'
          : error.status === 403
            ? 'You may not see this conversation.'
            : `The history cannot be shown: ${error.message}`}
      </p>
      {onLatest && error.status === 400 && (
        <button type="button" className="button button-small" onClick={onLatest}>
          Show the latest event
        </button>
      )}
    </div>
  );
}

/**
 * The replay console of one conversation: its recorded events, and the
 * conversation as it was just after any one of them. `at` is the revision
 * asked for (null: the latest; NaN: a bad deep link); `onAt(revision)` moves
 * (the page keeps it in the URL). `source` reads the log (source.js);
 * `rightSide` is the side drawn on the right.
 */
export default function ReplayConsole({ source, conversationId, at, onAt, rightSide }) {
  const badLink = Number.isNaN(at);
  const { events, eventsError, state, stateError, loading } = useReplay(source, badLink ? null : at);
  const names = useMemo(() => namesFrom(events, state), [events, state]);
  const shownAt = state?.at ?? 0;
  const last = Math.max(state?.lastRevision ?? 0, (events?.length ?? 1) - 1);
  const move = useCallback((revision) => onAt(revision), [onAt]);

  const supportCount = useMemo(() => (events ?? []).filter((e) => e.type === 'SupportAccessed').length, [events]);
  const error = badLink
    ? { status: 400, message: 'the link names no event (?at= takes a revision number)' }
    : stateError ?? eventsError;

  if (error && !state) return <Failure error={error} onLatest={() => onAt(null)} />;
  if (!state) {
    return (
      <div className="replay-loading" role="status" data-testid="replay-loading">
        <span className="spinner" aria-hidden="true" /> Loading the conversation’s history…
      </div>
    );
  }

  const event = state.event ?? events?.[shownAt];
  const current = event ? describeEvent(event, names).title : 'No event';
  const customer = names.get(state.customer?.id) ?? state.customer?.id ?? 'customer';
  const vendor = names.get(state.vendor?.id) ?? state.vendor?.id ?? 'vendor';

  return (
    <div className="replay" data-testid="replay-console" data-conversation-id={conversationId}>
      <div className="replay-head">
        <div>
          <h1 className="replay-title">
            {customer} <span aria-label="and">↔</span> {vendor}
          </h1>
          <p className="muted replay-sub">
            Every event of this conversation as the log recorded it. Move through them to see the conversation as it was.
          </p>
        </div>
        <div className="replay-head-side">
          <IntegrityBadge chainValid={state.chainValid} />
          <TranscriptButtons source={source} conversationId={conversationId} />
        </div>
      </div>

      {error && <Failure error={error} onLatest={() => onAt(null)} />}

      <ReplayControls at={shownAt} last={last} onMove={move} current={current} busy={loading} />

      <div className="replay-body">
        <section className="replay-pane replay-pane-state" aria-labelledby="replay-state-title">
          <h2 id="replay-state-title" className="replay-pane-title">
            The conversation after event {shownAt + 1}
            {state.lastRecordedAt && <span className="muted"> · {formatWhen(state.lastRecordedAt)}</span>}
          </h2>
          <StateView state={state} names={names} rightSide={rightSide} />
        </section>
        <section className="replay-pane replay-pane-timeline" aria-labelledby="replay-timeline-title">
          <h2 id="replay-timeline-title" className="replay-pane-title">
            Timeline <span className="muted">({events ? events.length : '…'} events)</span>
          </h2>
          {supportCount > 0 && (
            <p className="replay-support-note" data-testid="support-summary" data-count={supportCount}>
              Support staff viewed this conversation {supportCount === 1 ? 'once' : `${supportCount} times`}. Every
              access is recorded here with its reason.
            </p>
          )}
          {events ? (
            <Timeline events={events} names={names} at={shownAt} onPick={move} />
          ) : eventsError ? null : (
            <p className="muted">Loading events…</p>
          )}
        </section>
      </div>
    </div>
  );
}
