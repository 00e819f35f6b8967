import { useLayoutEffect, useRef } from 'react';
import ProductCard from '../Chat/ProductCard.jsx';
import { Ticks } from '../Chat/icons.jsx';
import { SIDES, focusSeq, stateRows } from './events.js';
import { revealWithin } from './scroll.js';
import { formatWhen } from './Timeline.jsx';

function sideName(state, names, side) {
  const who = state?.[side];
  return (who?.id && names.get(who.id)) || who?.name || who?.id || side;
}

function Figures({ state, names }) {
  return (
    <dl className="replay-figures" data-testid="replay-figures">
      {SIDES.map((side) => {
        const s = state.sides?.[side] ?? {};
        const name = sideName(state, names, side);
        return (
          <div className="replay-figure" key={side} data-testid="replay-side" data-side={side}>
            <dt>
              {name} <span className="muted">({side})</span>
            </dt>
            <dd>
              <span data-testid="replay-unread" data-side={side} data-count={s.unread ?? 0}>
                <b>{s.unread ?? 0}</b> unread
              </span>
              <span>read up to #{s.readUpToSeq ?? 0}</span>
              {s.typing && (
                <span className="replay-typing" data-testid="replay-typing" data-side={side}>
                  typing…
                </span>
              )}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

function ReplayMessage({ m, read, right, senderName, focused }) {
  const isProduct = m.kind === 'product' && m.product;
  return (
    <div
      className={`msg ${right ? 'msg-mine' : 'msg-theirs'} ${isProduct ? 'msg-product' : ''} replay-msg ${focused ? 'is-focus' : ''}`}
      data-testid="replay-message"
      data-seq={m.seq}
      data-read={read ? 'true' : 'false'}
      data-sender={m.sender?.id ?? ''}
    >
      <span className="replay-msg-who">
        {senderName} · #{m.seq}
      </span>
      <div className="msg-bubble">
        {isProduct && <ProductCard product={m.product} variant="bubble" testId="message-product" />}
        {m.text && (
          <p className="msg-text" data-testid="message-text">
            {m.text}
          </p>
        )}
        <span className="msg-meta">
          <time dateTime={m.sentAt} title={formatWhen(m.sentAt)}>
            {formatWhen(m.sentAt)}
          </time>
          <Ticks state={read ? 'read' : 'sent'} />
        </span>
      </div>
      <span className={`replay-read ${read ? 'is-read' : ''}`} data-testid="replay-read-state">
        {read ? `Read ${formatWhen(m.readAt)}` : 'Not read yet'}
      </span>
    </div>
  );
}

/**
 * The conversation exactly as it was just after one event: its messages with
 * whether the other side had read each one then, where each side's read
 * marker stood, who was typing, and each side's unread figure. `rightSide`
 * is the side drawn on the right (the viewer's own, for a participant).
 */
export default function StateView({ state, names, rightSide = 'vendor' }) {
  const messages = state.messages ?? [];
  const listRef = useRef(null);
  const focus = focusSeq(state);
  const aboutMessage = state.event?.type === 'MessageSent' || state.event?.type === 'MessageRead';
  // Show the message the event is about (sent, or read up to), else the last.
  useLayoutEffect(() => {
    const list = listRef.current;
    const el = list?.querySelector(`[data-testid="replay-message"][data-seq="${focus}"]`);
    if (el) revealWithin(list, el, { block: focus === messages.at(-1)?.seq ? 'end' : 'nearest' });
  }, [state, focus, messages]);
  return (
    <div className="replay-state" data-testid="replay-state" data-at={state.at}>
      <Figures state={state} names={names} />
      {state.product && (
        <p className="replay-about muted">
          About <b>{state.product.name}</b>
        </p>
      )}
      <div
        className="replay-messages"
        ref={listRef}
        role="region"
        aria-label="Messages at this point"
        tabIndex={0}
        data-testid="replay-messages"
      >
        {!state.started && <p className="muted">The conversation had not started yet.</p>}
        {state.started && messages.length === 0 && <p className="muted">No message yet at this point.</p>}
        {stateRows(state).map((r) =>
          r.type === 'message' ? (
            <ReplayMessage
              key={r.key}
              focused={aboutMessage && r.message.seq === focus}
              m={r.message}
              read={r.read}
              right={r.message.sender?.role === rightSide}
              senderName={names.get(r.message.sender?.id) ?? r.message.sender?.id}
            />
          ) : (
            <div className="read-marker" key={r.key} data-testid="read-marker" data-side={r.side} data-seq={r.seq}>
              <span>{sideName(state, names, r.side)} has read up to here</span>
            </div>
          ),
        )}
        {SIDES.filter((side) => state.sides?.[side]?.typing).map((side) => (
          <p className="replay-typing-line" key={side}>
            {sideName(state, names, side)} is typing…
          </p>
        ))}
      </div>
    </div>
  );
}
