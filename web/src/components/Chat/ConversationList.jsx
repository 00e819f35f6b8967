import { useEffect, useRef, useState } from 'react';
import { otherOf } from '@souk/client';
import { useChatStore, useJumpStore } from '../../chat.js';
import { formatListTime } from '../../utils/format.js';
import { snippetParts } from '../../utils/snippet.js';
import Avatar from './Avatar.jsx';
import { BagIcon, CloseIcon, SearchIcon, Ticks } from './icons.jsx';
import { ProductImage } from './ProductCard.jsx';

function preview(message, meId) {
  if (!message) return { text: 'No messages yet', mine: false };
  const mine = message.sender?.id === meId;
  let text = message.text ?? '';
  const product = message.kind === 'product' && message.product ? message.product.name : null;
  if (product) text = text ? `${product} · ${text}` : product;
  return { text, mine, read: !!message.readAt, product: !!product };
}

/** The message a search found, its found words marked. */
function Match({ match, search }) {
  return (
    <span className="conv-preview conv-match" data-testid="search-match" data-seq={match.seq}>
      {snippetParts(match.text, search).map((part, i) =>
        part.hit ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>,
      )}
    </span>
  );
}

function Row({ conversation, role, meId, active, unread, online, typing, onOpen, search }) {
  const other = otherOf(conversation, role) ?? {};
  const p = preview(conversation.lastMessage, meId);
  const time = conversation.lastMessage?.sentAt ?? conversation.updatedAt;
  // The product currently discussed (the one it was started from until another is asked about).
  const discussed = conversation.currentProduct ?? conversation.product;
  // In a search answer: the matching message, and opening goes to it.
  const match = search ? conversation.match : null;
  const jumpTo = useJumpStore((s) => s.jumpTo);
  return (
    <li>
      <button
        type="button"
        className={`conv ${active ? 'is-active' : ''} ${unread > 0 ? 'has-unread' : ''}`}
        // detail 0: activated from the keyboard, so focus follows into the conversation
        onClick={(e) => {
          if (match) jumpTo(conversation.id, match.seq);
          onOpen(conversation.id, { focus: e.detail === 0 });
        }}
        data-testid="conversation-item"
        data-conversation-id={conversation.id}
        data-name={other.name ?? other.id}
        aria-current={active ? 'true' : undefined}
      >
        <Avatar id={other.id} name={other.name ?? other.id} online={online} />
        <span className="conv-main">
          <span className="conv-top">
            <span className="conv-name">{other.name ?? other.id}</span>
            <span className="conv-time">{formatListTime(time)}</span>
          </span>
          {discussed && (
            <span className="conv-product" data-testid="conversation-item-product" data-product-id={discussed.id}>
              <ProductImage product={discussed} className="conv-product-img" />
              {discussed.name}
            </span>
          )}
          <span className="conv-bottom">
            {match ? (
              <Match match={match} search={search} />
            ) : (
              <span className={`conv-preview ${typing ? 'is-typing' : ''}`} data-testid="last-message">
                {typing ? (
                  'typing…'
                ) : (
                  <>
                    {p.mine && <Ticks state={p.read ? 'read' : 'sent'} />}
                    {p.mine && <span className="conv-you">You: </span>}
                    {p.product && <BagIcon className="conv-bag" />}
                    {p.text}
                  </>
                )}
              </span>
            )}
            {unread > 0 && (
              <>
                <span className="badge" data-testid="unread-badge">
                  {unread > 99 ? '99+' : unread}
                </span>
                <span className="sr-only"> unread</span>
              </>
            )}
          </span>
        </span>
      </button>
    </li>
  );
}

/**
 * The conversations of the signed-in user: a search box (matches the other
 * participant, the product and message text, on the server), newest activity
 * first, with unread badges, the last message and who is online. A search
 * answer comes newest match first; a result found through a message shows
 * that message and opens the conversation at it.
 */
export default function ConversationList({ onOpen, top, emptyHint }) {
  const me = useChatStore((s) => s.me);
  const order = useChatStore((s) => s.order);
  const conversations = useChatStore((s) => s.conversations);
  const unread = useChatStore((s) => s.unread);
  const presence = useChatStore((s) => s.presence);
  const typing = useChatStore((s) => s.typing);
  const activeId = useChatStore((s) => s.activeId);
  const listStatus = useChatStore((s) => s.listStatus);
  const listError = useChatStore((s) => s.listError);
  const connected = useChatStore((s) => s.connection === 'online');
  const nextCursor = useChatStore((s) => s.nextCursor);
  const loadConversations = useChatStore((s) => s.loadConversations);
  const loadMore = useChatStore((s) => s.loadMoreConversations);
  // The search the list shows (the box may be ahead of it while typing).
  const listSearch = useChatStore((s) => s.search);
  const [query, setQuery] = useState('');
  const first = useRef(true);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return undefined;
    }
    const t = setTimeout(() => loadConversations(query.trim()), 250);
    return () => clearTimeout(t);
  }, [query, loadConversations]);

  const onScroll = (e) => {
    const el = e.currentTarget;
    if (nextCursor && el.scrollHeight - el.scrollTop - el.clientHeight < 200) loadMore();
  };

  const searching = query.trim().length > 0;
  return (
    <div className="conv-list" onScroll={onScroll}>
      {top}
      <div className="search">
        <SearchIcon className="search-icon" />
        <input
          type="search"
          placeholder="Search names, products, messages"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          aria-label="Search conversations"
          data-testid="conversation-search"
        />
        {searching && (
          <button type="button" className="icon-button search-clear" onClick={() => setQuery('')} aria-label="Clear search">
            <CloseIcon />
          </button>
        )}
      </div>
      {listStatus === 'error' && (
        <div className="list-note list-error" role="alert">
          {listError}{' '}
          <button type="button" className="link-button" onClick={() => loadConversations(query.trim())}>
            Try again
          </button>
        </div>
      )}
      {listStatus === 'loading' && order.length === 0 && (
        <ul className="conv-skeleton" aria-hidden="true">
          {[0, 1, 2, 3].map((i) => (
            <li key={i} />
          ))}
        </ul>
      )}
      {listStatus === 'ready' && order.length === 0 && (
        <div className="list-note" data-testid="conversation-empty">
          {searching ? `No conversation matches “${query.trim()}”.` : emptyHint ?? 'No conversations yet.'}
        </div>
      )}
      <ul className="conv-items" data-testid="conversation-list">
        {order.map((id) => {
          const c = conversations[id];
          if (!c) return null;
          const other = otherOf(c, me?.role);
          return (
            <Row
              key={id}
              conversation={c}
              role={me?.role}
              meId={me?.id}
              active={id === activeId}
              unread={unread[id] ?? 0}
              online={connected ? (presence[other?.id]?.online ?? !!other?.online) : undefined}
              typing={!!typing[id]}
              onOpen={onOpen}
              search={listSearch}
            />
          );
        })}
      </ul>
    </div>
  );
}
