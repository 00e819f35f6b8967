import { useEffect, useMemo, useState } from 'react';
import { Link, Navigate, useSearchParams } from 'react-router-dom';
import { createOperatorApi } from '@souk/client';
import Avatar from '../components/Chat/Avatar.jsx';
import ConsoleTopBar from '../components/Replay/ConsoleTopBar.jsx';
import ReasonField, { reasonProblem } from '../components/Replay/ReasonField.jsx';
import { formatWhen } from '../components/Replay/Timeline.jsx';
import '../components/Replay/replay.css';
import { homeOf, loadSession } from '../utils/auth.js';

const USER_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

function Result({ conv, reason }) {
  const to = `/operator/conversations/${encodeURIComponent(conv.id)}?${new URLSearchParams({ reason })}`;
  return (
    <li className="op-result" data-testid="operator-result" data-conversation-id={conv.id}>
      <Link to={to} className="op-result-link" data-testid="operator-open">
        <span className="op-result-people">
          <Avatar id={conv.customer.id} name={conv.customer.name} size={32} />
          <span>
            <b>{conv.customer.name}</b> <span className="muted">({conv.customer.id})</span>
            <span aria-label="with"> ↔ </span>
            <b>{conv.vendor.name}</b> <span className="muted">({conv.vendor.id})</span>
          </span>
        </span>
        {conv.product && <span className="op-result-product">About {conv.product.name}</span>}
        <span className="op-result-when muted">Last activity {formatWhen(conv.updatedAt)}</span>
      </Link>
    </li>
  );
}

/**
 * The operator's page: find a user's conversations by their id and open one
 * in the replay console, with a reason for access that is recorded in the
 * conversation's log and shown to its participants. Support staff read only:
 * there is no composer anywhere for them. The search and the reason are in
 * the URL (`?participant=&reason=`), so that going back keeps them.
 */
export default function OperatorPage() {
  const [session] = useState(() => loadSession());
  const [params, setParams] = useSearchParams();
  const [participant, setParticipant] = useState(params.get('participant') ?? '');
  const [reason, setReason] = useState(params.get('reason') ?? '');
  const [errors, setErrors] = useState({});
  const [result, setResult] = useState({ status: 'idle' });
  const api = useMemo(() => (session?.user.role === 'operator' ? createOperatorApi(session.token) : null), [session]);
  const searched = params.get('participant');
  const searchedReason = params.get('reason') ?? '';

  useEffect(() => {
    document.title = 'souk · Support';
  }, []);

  useEffect(() => {
    if (!api || !searched || reasonProblem(searchedReason)) return undefined;
    const ctrl = new AbortController();
    setResult({ status: 'loading' });
    api
      .searchConversations(searched, searchedReason.trim(), { signal: ctrl.signal })
      .then((r) => setResult({ status: 'ready', ...r }))
      .catch((e) => e.name !== 'AbortError' && setResult({ status: 'error', error: e.message }));
    return () => ctrl.abort();
  }, [api, searched, searchedReason]);

  if (!session) return <Navigate to="/" replace />;
  if (session.user.role !== 'operator') return <Navigate to={homeOf(session.user.role)} replace />;

  const submit = (e) => {
    e.preventDefault();
    const id = participant.trim();
    const problems = {
      participant: USER_ID.test(id) ? null : 'Enter a user id: letters, digits and _ . : @ - (for example c-alice or v-bolt).',
      reason: reasonProblem(reason),
    };
    setErrors(problems);
    if (problems.participant || problems.reason) return;
    setParams({ participant: id, reason: reason.trim() }, { replace: true });
  };

  return (
    <div className="console-app" data-testid="operator-page">
      <ConsoleTopBar me={session.user} title="Support" />
      <main className="console-main">
        <form className="console-card op-search" onSubmit={submit} noValidate>
          <h1>Find a conversation</h1>
          <div className="field">
            <label htmlFor="participant">Participant id</label>
            <input
              id="participant"
              value={participant}
              onChange={(e) => setParticipant(e.target.value)}
              placeholder="c-alice or v-bolt"
              autoComplete="off"
              spellCheck={false}
              aria-invalid={errors.participant ? 'true' : 'false'}
              aria-describedby={errors.participant ? 'participant-error' : undefined}
              data-testid="participant-input"
            />
            {errors.participant && (
              <p id="participant-error" className="form-error" role="alert">
                {errors.participant}
              </p>
            )}
          </div>
          <ReasonField value={reason} onChange={setReason} error={errors.reason} />
          <button type="submit" className="button button-primary" data-testid="operator-search">
            Search
          </button>
          <p className="field-hint">Searching records nothing; opening a conversation records your access in it.</p>
        </form>

        <section className="console-card op-results" aria-live="polite" aria-busy={result.status === 'loading'}>
          <h2>
            {searched ? (
              <>
                Conversations of <code>{searched}</code>
              </>
            ) : (
              'Results'
            )}
          </h2>
          {result.status === 'idle' && <p className="muted">Search by a customer’s or a vendor’s id.</p>}
          {result.status === 'loading' && <p className="muted">Searching…</p>}
          {result.status === 'error' && (
            <p className="form-error" role="alert" data-testid="operator-error">
              {result.error}
            </p>
          )}
          {result.status === 'ready' && result.conversations.length === 0 && (
            <p className="muted" data-testid="operator-empty">
              No conversation has this participant.
            </p>
          )}
          {result.status === 'ready' && result.conversations.length > 0 && (
            <ul className="op-result-list" data-testid="operator-results">
              {result.conversations.map((c) => (
                <Result key={c.id} conv={c} reason={searchedReason.trim()} />
              ))}
            </ul>
          )}
          {result.status === 'ready' && result.hasMore && (
            <p className="muted">Only the most recent conversations are listed.</p>
          )}
        </section>
      </main>
    </div>
  );
}
