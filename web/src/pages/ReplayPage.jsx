import { useCallback, useEffect, useMemo, useState } from 'react';
import { Navigate, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import ConsoleTopBar from '../components/Replay/ConsoleTopBar.jsx';
import ReasonField, { reasonProblem } from '../components/Replay/ReasonField.jsx';
import ReplayConsole from '../components/Replay/ReplayConsole.jsx';
import { parseAt } from '../components/Replay/events.js';
import { replaySource } from '../components/Replay/source.js';
import '../components/Replay/replay.css';
import { useChatStore } from '../chat.js';
import { homeOf, loadSession } from '../utils/auth.js';

/** An operator who opened a conversation without a reason gives one here first. */
function AskReason({ initial, onGo }) {
  const [reason, setReason] = useState(initial);
  const [error, setError] = useState(null);
  return (
    <form
      className="console-card reason-card"
      onSubmit={(e) => {
        e.preventDefault();
        const problem = reasonProblem(reason);
        setError(problem);
        if (!problem) onGo(reason.trim());
      }}
    >
      <h1>Why do you open this conversation?</h1>
      <ReasonField value={reason} onChange={setReason} error={error} />
      <button type="submit" className="button button-primary" data-testid="reason-submit">
        Open the conversation
      </button>
    </form>
  );
}

/**
 * The replay console of one conversation: for a participant at
 * `/replay/:conversationId` (their own conversation, from their side's
 * routes), for an operator at `/operator/conversations/:conversationId?reason=`
 * (recorded in the conversation's log). `?at=<revision>` opens at that event
 * and follows the slider.
 */
export default function ReplayPage({ operator = false }) {
  const [session] = useState(() => loadSession());
  const { conversationId } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const reason = params.get('reason') ?? '';
  const at = parseAt(params.get('at'));
  const role = session?.user.role;
  const allowed = operator ? role === 'operator' : role === 'customer' || role === 'vendor';
  const ready = allowed && (!operator || !reasonProblem(reason));

  const source = useMemo(
    () => (ready ? replaySource(session, conversationId, reason.trim()) : null),
    [ready, session, conversationId, reason],
  );

  // The chat, if it ran in this tab, stops marking messages read as they
  // arrive: the reader is here, not in the conversation.
  useEffect(() => {
    if (!operator && useChatStore.getState().activeId) useChatStore.getState().closeConversation();
  }, [operator]);

  useEffect(() => {
    document.title = `souk · History & audit`;
  }, []);

  const onAt = useCallback(
    (revision) =>
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (revision === null) next.delete('at');
          else next.set('at', String(revision));
          return next;
        },
        { replace: true },
      ),
    [setParams],
  );

  if (!session) return <Navigate to="/" replace />;
  if (!allowed) return <Navigate to={homeOf(role)} replace />;

  const back = operator
    ? { to: `/operator?${new URLSearchParams({ reason }).toString()}`, label: 'Back to the search' }
    : { to: `${homeOf(role)}?c=${encodeURIComponent(conversationId)}`, label: 'Back to the chat' };

  return (
    <div className="console-app" data-testid={operator ? 'operator-replay-page' : 'replay-page'}>
      <ConsoleTopBar
        me={session.user}
        title="History & audit"
        back={back}
        onSignOut={() => useChatStore.getState().stop()}
      />
      <main className="console-main">
        {operator && (
          <p className="operator-notice" data-testid="operator-notice">
            You are viewing this conversation as support staff
            {ready && (
              <>
                {' '}
                for: <q>{reason.trim()}</q>
              </>
            )}
            . Your access is recorded in its log and shown to both participants. Support staff cannot write here.
          </p>
        )}
        {ready ? (
          <ReplayConsole
            source={source}
            conversationId={conversationId}
            at={at}
            onAt={onAt}
            rightSide={role === 'customer' ? 'customer' : 'vendor'}
          />
        ) : (
          <AskReason
            initial={reason}
            onGo={(r) => navigate(`?${new URLSearchParams({ reason: r, ...(params.get('at') ? { at: params.get('at') } : {}) })}`, { replace: true })}
          />
        )}
      </main>
    </div>
  );
}
