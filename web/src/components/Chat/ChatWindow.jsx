import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { otherOf, visibleMessages } from '@souk/client';
import { useChatStore, useJumpStore } from '../../chat.js';
import { dayKey, formatDay, formatLastSeen, formatPrice } from '../../utils/format.js';
import { MAX_TEXT_CHARS, charsLeft, normalizeText } from '../../utils/text.js';
import Avatar from './Avatar.jsx';
import { ArrowDownIcon, BackIcon, BagIcon, CloseIcon, SendIcon } from './icons.jsx';
import MessageBubble from './MessageBubble.jsx';
import { ProductImage } from './ProductCard.jsx';
import ProductPicker from './ProductPicker.jsx';
import { useInquiryStore } from '../../chat.js';
import TypingIndicator from './TypingIndicator.jsx';

const GROUP_MS = 5 * 60 * 1000;
const ANNOUNCED_KEEP = 5;
const NEAR_BOTTOM_PX = 80;
const NEAR_TOP_PX = 160;

function keyOf(m) {
  return m.id ?? `pending-${m.clientMessageId}`;
}

/** Day separators and runs of messages from one sender. */
function layout(messages) {
  const rows = [];
  let prev = null;
  for (const m of messages) {
    const day = dayKey(m.sentAt);
    if (!prev || dayKey(prev.sentAt) !== day) {
      rows.push({ type: 'day', key: `day-${day}`, label: formatDay(m.sentAt) });
      prev = null;
    }
    const grouped =
      !!prev &&
      prev.sender?.id === m.sender?.id &&
      new Date(m.sentAt).getTime() - new Date(prev.sentAt).getTime() < GROUP_MS;
    rows.push({ type: 'msg', key: keyOf(m), message: m, grouped });
    prev = m;
  }
  return rows;
}

/**
 * The product card the composer will send with the next message (the
 * product the conversation was just opened from), with a button to leave it
 * out.
 */
function Attachment({ product, onRemove }) {
  const price = formatPrice(product.priceMinor, product.currency);
  return (
    <div className="composer-attachment" data-testid="composer-attachment" data-product-id={product.id}>
      <ProductImage product={product} />
      <span className="composer-attachment-text">
        <span className="composer-attachment-label">Asking about</span>
        <span className="chp-name" data-testid="composer-attachment-name">
          {product.name}
        </span>
        {price && <span className="chp-price">{price}</span>}
      </span>
      <button
        type="button"
        className="icon-button composer-attachment-remove"
        onClick={onRemove}
        aria-label={`Do not send the card of ${product.name}`}
        title="Do not send this card"
        data-testid="composer-attachment-remove"
      >
        <CloseIcon />
      </button>
    </div>
  );
}

function Composer({ onSend, onTyping, onShareToggle, sharing, disabled, attachment = null }) {
  const [text, setText] = useState('');
  const ref = useRef(null);
  const left = charsLeft(text);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 140)}px`;
  }, [text]);

  const submit = (e) => {
    e?.preventDefault();
    const t = normalizeText(text);
    if ((!t && !attachment) || left < 0) return;
    onSend(t);
    setText('');
    ref.current?.focus();
  };

  return (
    <form className="composer" onSubmit={submit}>
      <button
        type="button"
        className={`icon-button composer-share ${sharing ? 'is-on' : ''}`}
        onClick={onShareToggle}
        aria-label="Share a product"
        aria-expanded={sharing}
        title="Share a product"
        data-testid="share-product-button"
      >
        <BagIcon />
      </button>
      <textarea
        ref={ref}
        rows={1}
        value={text}
        placeholder="Write a message"
        disabled={disabled}
        aria-invalid={left < 0}
        aria-describedby={left < 200 ? 'composer-count' : undefined}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim()) onTyping();
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) submit(e);
        }}
        aria-label="Message"
        data-testid="composer-input"
      />
      {left < 200 && (
        <span id="composer-count" className={`composer-count ${left < 0 ? 'is-over' : ''}`} data-testid="composer-count">
          {left < 0 ? `${-left} over the ${MAX_TEXT_CHARS} limit` : `${left} left`}
        </span>
      )}
      <button type="submit" className="send-button" disabled={(!text.trim() && !attachment) || left < 0 || disabled} aria-label="Send" data-testid="send-button">
        <SendIcon />
      </button>
    </form>
  );
}

/** What a screen reader hears for a message that arrives: who, the product, the text. */
function spoken(m, name) {
  const product = m.kind === 'product' && m.product ? `shared ${m.product.name}` : null;
  return [`${m.sender?.name ?? name}:`, product, m.text].filter(Boolean).join(' ');
}

/**
 * The open conversation: who it is with (online, typing, last seen), the
 * product it started from, the history (older pages load on scrolling up, the
 * view follows the newest message unless the reader scrolled away), and the
 * composer with product sharing.
 */
export default function ChatWindow({ onBack, backBadge = 0, shareables = () => [], focusRequest = null, onFocused }) {
  const me = useChatStore((s) => s.me);
  const activeId = useChatStore((s) => s.activeId);
  const conv = useChatStore((s) => s.conversations[s.activeId]);
  const thread = useChatStore((s) => s.threads[s.activeId]);
  const typingUser = useChatStore((s) => s.typing[s.activeId]);
  const presence = useChatStore((s) => s.presence);
  const connection = useChatStore((s) => s.connection);
  const sendMessage = useChatStore((s) => s.sendMessage);
  const typingActivity = useChatStore((s) => s.typingActivity);
  const loadOlder = useChatStore((s) => s.loadOlder);
  const retry = useChatStore((s) => s.retry);
  const discard = useChatStore((s) => s.discard);
  const retryOpen = useChatStore((s) => s.retryOpen);
  // The card of the product the conversation was opened from, until sent
  // with the next message or removed.
  const attached = useInquiryStore((s) => (activeId ? s.attached[activeId] : undefined));
  const detach = useInquiryStore((s) => s.detach);
  const jump = useJumpStore((s) => s.target);
  const clearJump = useJumpStore((s) => s.clear);
  const [sharing, setSharing] = useState(false);
  const [showJump, setShowJump] = useState(false);

  const scrollRef = useRef(null);
  const contentRef = useRef(null);
  const sectionRef = useRef(null);
  // Messages from the other side newer than this seq are announced (a screen
  // reader hears new messages, not the history that loads).
  const announceFrom = useRef({ id: null, seq: null });
  const atBottom = useRef(true);
  const prev = useRef({ id: null, first: null, last: null, height: 0 });

  const messages = useMemo(() => visibleMessages(thread), [thread]);
  const rows = useMemo(() => layout(messages), [messages]);
  const other = otherOf(conv, me?.role);
  if (announceFrom.current.id !== activeId) announceFrom.current = { id: activeId, seq: null };
  if (announceFrom.current.seq === null && thread?.status === 'ready') {
    announceFrom.current.seq = messages.reduce((max, m) => Math.max(max, m.seq ?? 0), 0);
  }
  const from = announceFrom.current.seq;
  const announced =
    from === null ? [] : messages.filter((m) => m.seq > from && m.sender?.id !== me?.id).slice(-ANNOUNCED_KEEP);
  const otherPresence = other ? presence[other.id] : null;
  const online = otherPresence?.online ?? !!other?.online;
  const lastSeenAt = otherPresence?.lastSeenAt ?? other?.lastSeenAt;

  const scrollToBottom = useCallback(() => {
    const el = scrollRef.current;
    if (el) el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setShowJump(false);
  }, []);

  useEffect(() => {
    setSharing(false);
    setShowJump(false);
    atBottom.current = true;
  }, [activeId]);

  // Keep the reader's place when older messages are prepended; follow new ones.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const p = prev.current;
    const first = messages[0] ? keyOf(messages[0]) : null;
    const lastMsg = messages[messages.length - 1];
    const last = lastMsg ? keyOf(lastMsg) : null;
    if (p.id !== activeId) {
      el.scrollTop = el.scrollHeight;
      atBottom.current = true;
    } else if (first !== p.first && last === p.last && p.height) {
      el.scrollTop += el.scrollHeight - p.height;
    } else if (last !== p.last) {
      const mine = lastMsg?.sender?.id === me?.id;
      if (atBottom.current || mine) scrollToBottom();
      else setShowJump(true);
    }
    prev.current = { id: activeId, first, last, height: el.scrollHeight };
  }, [messages, activeId, me, scrollToBottom]);

  // Images that load and the typing bubble change the height: stay at the bottom.
  useEffect(() => {
    const content = contentRef.current;
    const el = scrollRef.current;
    if (!content || !el || typeof ResizeObserver === 'undefined') return undefined;
    const ro = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
      prev.current.height = el.scrollHeight;
    });
    ro.observe(content);
    return () => ro.disconnect();
  }, [activeId]);

  // Opened from the keyboard: focus moves into the conversation (the
  // composer once the history is there, the message list until then).
  useEffect(() => {
    if (!focusRequest || focusRequest.id !== activeId) return;
    const input = sectionRef.current?.querySelector('[data-testid="composer-input"]');
    if (input && !input.disabled) {
      input.focus();
      onFocused?.();
    } else if (!sectionRef.current?.contains(document.activeElement)) {
      scrollRef.current?.focus();
    }
  }, [focusRequest, activeId, thread?.status, onFocused]);

  // A first page that does not fill the view: fetch older ones at once.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el || !thread || thread.status !== 'ready' || !thread.hasMore || thread.loadingOlder) return;
    if (el.scrollHeight <= el.clientHeight + NEAR_TOP_PX) loadOlder(activeId);
  }, [thread, activeId, loadOlder]);

  // Opened from a search result: older pages load until its message is
  // there, which is then scrolled to the middle and marked (data-found).
  useEffect(() => {
    if (!jump || jump.id !== activeId || thread?.status !== 'ready') return;
    const content = contentRef.current;
    const found = content?.querySelector(`[data-testid="message"][data-seq="${jump.seq}"]`);
    if (found) {
      content.querySelectorAll('[data-found]').forEach((m) => m.removeAttribute('data-found'));
      found.setAttribute('data-found', 'true');
      found.scrollIntoView({ block: 'center' });
      const el = scrollRef.current;
      atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
      clearJump();
    } else if (thread.hasMore && !(messages[0]?.seq <= jump.seq)) {
      if (!thread.loadingOlder) loadOlder(activeId);
    } else {
      clearJump();
    }
  }, [jump, activeId, thread, messages, loadOlder, clearJump]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    if (atBottom.current) setShowJump(false);
    if (el.scrollTop < NEAR_TOP_PX && thread?.hasMore && !thread.loadingOlder) loadOlder(activeId);
  };

  if (!activeId) return null;
  const name = other?.name ?? other?.id ?? '…';
  // The product currently discussed (the one it was started from until
  // another one is asked about).
  const discussed = conv?.currentProduct ?? conv?.product ?? null;
  const products = conv ? shareables(conv) : [];
  const connected = connection === 'online';
  const status = !connected
    ? 'waiting for network…'
    : typingUser
      ? 'typing…'
      : online
        ? 'online'
        : formatLastSeen(lastSeenAt);

  return (
    <section className="chat" data-testid="chat-window" data-conversation-id={activeId} ref={sectionRef}>
      <header className="chat-head">
        <button
          type="button"
          className="icon-button back-button"
          onClick={onBack}
          aria-label={backBadge > 0 ? `Back to conversations, ${backBadge} unread` : 'Back to conversations'}
          data-testid="back-button"
        >
          <BackIcon />
          {backBadge > 0 && (
            <span className="badge badge-small" data-testid="back-unread" aria-hidden="true">
              {backBadge > 99 ? '99+' : backBadge}
            </span>
          )}
        </button>
        <Avatar id={other?.id} name={name} online={conv && connected ? online : undefined} size={40} announce={false} />
        <div className="chat-head-who">
          <div className="chat-head-name" data-testid="chat-partner-name">
            {name}
          </div>
          <div
            className={`chat-head-status ${!connected ? '' : typingUser ? 'is-typing' : online ? 'is-online' : ''}`}
            data-testid="chat-partner-status"
          >
            {status}
          </div>
        </div>
        {discussed && (
          <a
            className="chat-head-product"
            href={discussed.url ?? undefined}
            target="_blank"
            rel="noreferrer"
            data-testid="conversation-product"
            data-product-id={discussed.id}
            title={discussed.name}
          >
            <ProductImage product={discussed} />
            <span>
              <span className="chp-name">{discussed.name}</span>
              <span className="chp-price">{formatPrice(discussed.priceMinor, discussed.currency)}</span>
            </span>
          </a>
        )}
        <Link className="button button-small chat-head-audit" to={`/replay/${activeId}`} data-testid="history-link">
          History &amp; audit
        </Link>
      </header>

      <div
        className="chat-scroll"
        ref={scrollRef}
        onScroll={onScroll}
        role="region"
        aria-label={`Messages with ${name}`}
        tabIndex={0}
        data-testid="message-list"
      >
        <div className="chat-content" ref={contentRef}>
          {thread?.loadingOlder && <div className="chat-loading" data-testid="loading-older">Loading earlier messages…</div>}
          {thread?.status === 'ready' && !thread.hasMore && messages.length > 0 && (
            <div className="chat-start" data-testid="history-start">
              Start of your conversation with {name}
            </div>
          )}
          {thread?.status === 'loading' && messages.length === 0 && <div className="chat-loading">Loading…</div>}
          {thread?.status === 'error' && (
            <div className="chat-error" role="alert">
              {thread.error}{' '}
              <button type="button" className="link-button" onClick={retryOpen}>
                Try again
              </button>
            </div>
          )}
          {thread?.status === 'ready' && messages.length === 0 && (
            <div className="chat-empty">
              <p>Say hello to {name}.</p>
              {discussed && <p className="muted">You are talking about {discussed.name}.</p>}
            </div>
          )}
          {rows.map((r) =>
            r.type === 'day' ? (
              <div className="day-sep" key={r.key}>
                <span>{r.label}</span>
              </div>
            ) : (
              <MessageBubble
                key={r.key}
                message={r.message}
                mine={r.message.sender?.id === me?.id}
                grouped={r.grouped}
                onRetry={() => retry(activeId, r.message.clientMessageId)}
                onDiscard={() => discard(activeId, r.message.clientMessageId)}
              />
            ),
          )}
          {typingUser && <TypingIndicator name={name} />}
        </div>
      </div>

      <div className="sr-only" role="log" aria-live="polite" aria-label="New messages" data-testid="message-announcer">
        {announced.map((m) => (
          <p key={keyOf(m)}>{spoken(m, name)}</p>
        ))}
      </div>
      <div className="sr-only" role="status" data-testid="typing-announcer">
        {typingUser ? `${name} is typing` : ''}
      </div>

      {showJump && (
        <button type="button" className="jump" onClick={scrollToBottom} data-testid="jump-to-latest">
          <ArrowDownIcon /> New messages
        </button>
      )}

      {sharing && (
        <ProductPicker
          products={products}
          onClose={() => setSharing(false)}
          onShare={(product, caption) => {
            setSharing(false);
            sendMessage({ product, text: caption });
          }}
        />
      )}
      {attached && <Attachment product={attached} onRemove={() => detach(activeId)} />}
      <Composer
        attachment={attached}
        onSend={(text) => {
          if (attached) {
            // The card goes with this message (as its caption, when there is text).
            sendMessage({ product: attached, text });
            detach(activeId);
          } else sendMessage({ text });
        }}
        onTyping={typingActivity}
        onShareToggle={() => setSharing((v) => !v)}
        sharing={sharing}
        disabled={thread?.status !== 'ready'}
      />
    </section>
  );
}
