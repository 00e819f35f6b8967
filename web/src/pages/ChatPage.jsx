import { useCallback, useEffect, useRef, useState } from 'react';
import { Navigate, useLocation, useNavigate, useSearchParams } from 'react-router-dom';
import ChatWindow from '../components/Chat/ChatWindow.jsx';
import ConversationList from '../components/Chat/ConversationList.jsx';
import { ChatIcon, LogoutIcon } from '../components/Chat/icons.jsx';
import Avatar from '../components/Chat/Avatar.jsx';
import { toWireProduct } from '../components/Chat/ProductCard.jsx';
import ProductStrip from '../components/Chat/ProductStrip.jsx';
import DashboardLink from '../components/Dashboard/DashboardLink.jsx';
import NotificationControl from '../components/Chat/NotificationControl.jsx';
import { fetchConfig, fetchDemoUsers, socketUrlOf } from '@souk/client';
import { useChatStore, useInquiryStore } from '../chat.js';
import { clearSession, homeOf, loadSession } from '../utils/auth.js';
import { firstUnread } from '../utils/focus.js';
import useBackgroundNotifications from '../utils/useBackgroundNotifications.js';

function ConnectionBanner({ connection }) {
  if (connection === 'offline') {
    return (
      <div className="banner banner-warn" role="status" data-testid="connection-banner" data-state="offline">
        <span className="spinner" aria-hidden="true" /> Connection lost — reconnecting…
      </div>
    );
  }
  if (connection === 'unauthorized') {
    return (
      <div className="banner banner-error" role="alert" data-testid="connection-banner" data-state="unauthorized">
        Your session is no longer valid. <a href="/">Sign in again</a>
      </div>
    );
  }
  return null;
}

function TopBar({ me, totalUnread, connection, onSignOut, onInbox }) {
  return (
    <header className="topbar">
      <a className="brand" href={homeOf(me.role)}>
        <span className="brand-mark">
          <ChatIcon />
        </span>
        souk
        <span className={`role-pill role-${me.role}`}>{me.role === 'vendor' ? 'Seller' : 'Shopper'}</span>
      </a>
      <div className="topbar-right">
        {me.role === 'vendor' && <DashboardLink />}
        <NotificationControl />
        <span
          className={`conn-dot conn-${connection}`}
          title={connection === 'online' ? 'Connected' : 'Not connected'}
          data-testid="connection-status"
          data-state={connection}
        />
        <button
          type="button"
          className="inbox"
          onClick={onInbox}
          aria-label={totalUnread > 0 ? `${totalUnread} unread: open the first unread conversation` : 'No unread messages: conversations'}
          title={totalUnread > 0 ? `${totalUnread} unread` : 'No unread messages'}
          data-testid="inbox-button"
        >
          <ChatIcon data-testid="inbox-icon" />
          <span
            className={`badge ${totalUnread > 0 ? '' : 'is-zero'}`}
            data-testid="total-unread"
            data-count={totalUnread}
            aria-hidden="true"
          >
            {totalUnread > 99 ? '99+' : totalUnread}
          </span>
        </button>
        <span className="me" data-testid="me-name">
          <Avatar id={me.id} name={me.name} size={30} />
          <span className="me-name">{me.name}</span>
        </span>
        <button type="button" className="icon-button" onClick={onSignOut} aria-label="Sign out" title="Sign out" data-testid="sign-out">
          <LogoutIcon />
        </button>
      </div>
    </header>
  );
}

/**
 * The other side asked about another product (it opened the conversation
 * from it: no socket event says so) and sent its card: the conversation's
 * `currentProduct` is read again from the list, so that the header and the
 * list entry show the product now discussed.
 */
function useDiscussedProductRefresh(activeId) {
  const me = useChatStore((s) => s.me);
  const thread = useChatStore((s) => (activeId ? s.threads[activeId] : undefined));
  const conv = useChatStore((s) => (activeId ? s.conversations[activeId] : undefined));
  const last = thread?.messages?.[thread.messages.length - 1];
  const discussedId = (conv?.currentProduct ?? conv?.product)?.id;
  const asked =
    last && last.kind === 'product' && last.product && last.sender?.id !== me?.id && last.product.id !== discussedId
      ? last.id
      : null;
  const refreshed = useRef(null);
  useEffect(() => {
    if (!asked || refreshed.current === asked) return;
    refreshed.current = asked;
    useChatStore.getState().loadConversations(undefined, { quiet: true });
  }, [asked]);
}

/**
 * The chat page of one side (`customer` at /chat, `vendor` at /vendor/chat).
 * The open conversation is in the URL (`?c=<id>`): at phone width the list and
 * the conversation are two screens, and the browser's back button works too.
 */
export default function ChatPage({ side }) {
  const [session] = useState(() => loadSession());
  const navigate = useNavigate();
  const location = useLocation();
  const [params, setParams] = useSearchParams();
  const activeParam = params.get('c');
  const [setupError, setSetupError] = useState(null);
  const [busyProduct, setBusyProduct] = useState(null);
  // A conversation opened from the keyboard: focus goes into it (ChatWindow).
  const [focusRequest, setFocusRequest] = useState(null);

  const me = useChatStore((s) => s.me);
  const totalUnread = useChatStore((s) => s.totalUnread);
  const unread = useChatStore((s) => s.unread);
  const connection = useChatStore((s) => s.connection);
  const activeId = useChatStore((s) => s.activeId);
  const products = useChatStore((s) => s.products);
  const notice = useChatStore((s) => s.notice);
  const dismissNotice = useChatStore((s) => s.dismissNotice);
  const wrongSide = session && session.user.role !== side;

  useEffect(() => {
    if (!session || wrongSide) return undefined;
    let cancelled = false;
    fetchConfig()
      .then((config) => {
        if (cancelled) return;
        useChatStore.getState().start(session, config, socketUrlOf(config));
        if (config.demo) {
          fetchDemoUsers()
            .then((d) => !cancelled && useChatStore.getState().setProducts(d.products ?? []))
            .catch(() => {});
        }
      })
      .catch((e) => !cancelled && setSetupError(e.message));
    return () => {
      cancelled = true;
    };
  }, [session, wrongSide]);

  useEffect(() => {
    if (!me) return;
    const store = useChatStore.getState();
    if (activeParam) store.openConversation(activeParam);
    else store.closeConversation();
  }, [activeParam, me]);

  useEffect(() => {
    const onVisible = () => {
      const { activeId: id, markRead } = useChatStore.getState();
      if (id && document.visibilityState === 'visible') markRead(id);
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, []);

  useEffect(() => {
    const unreadTitle = totalUnread > 0 ? `(${totalUnread}) ` : '';
    document.title = `${unreadTitle}souk · ${side === 'vendor' ? 'Seller inbox' : 'Messages'}`;
  }, [totalUnread, side]);

  const open = useCallback(
    (id, { focus = false } = {}) => {
      if (focus) setFocusRequest({ id });
      if (id === useChatStore.getState().activeId) return;
      setParams({ c: id }, { state: { fromList: true } });
    },
    [setParams],
  );
  const focused = useCallback(() => setFocusRequest(null), []);

  useBackgroundNotifications(open);
  useDiscussedProductRefresh(activeId);

  // The header's unread button: the first unread conversation, or else the
  // list (its first row takes focus; the open conversation stays open beside it).
  const openInbox = (e) => {
    const { order, unread: counts, activeId: current } = useChatStore.getState();
    const id = firstUnread(order, counts, current);
    if (id) open(id, { focus: e.detail === 0 });
    else (document.querySelector('[data-testid="conversation-item"]') ?? document.querySelector('[data-testid="conversation-search"]'))?.focus();
  };

  // Back from a conversation with the keyboard (phone layout): focus returns
  // to its row in the list once the list shows again.
  const returnFocus = useRef(null);
  const back = useCallback(
    (e) => {
      returnFocus.current = e?.detail === 0 ? useChatStore.getState().activeId : null;
      if (location.state?.fromList) navigate(-1);
      else setParams({}, { replace: true });
    },
    [location.state, navigate, setParams],
  );
  useEffect(() => {
    const id = returnFocus.current;
    if (activeId || !id) return;
    returnFocus.current = null;
    document.querySelector(`[data-testid="conversation-item"][data-conversation-id="${CSS.escape(id)}"]`)?.focus();
  }, [activeId]);

  const signOut = () => {
    useChatStore.getState().stop();
    clearSession();
    navigate('/', { replace: true });
  };

  const chatWithVendor = async (product, how) => {
    setBusyProduct(product.id);
    try {
      const card = toWireProduct(product);
      // What the conversation with this vendor was about before (none: new).
      const before = Object.values(useChatStore.getState().conversations).find(
        (c) => c.vendor?.id === product.vendorId,
      );
      const id = await useChatStore.getState().startConversation({
        otherId: product.vendorId,
        otherName: product.vendorName,
        product: card,
      });
      // An existing conversation that was about another product: the
      // composer starts with this product's card, sent with the next message
      // (a new conversation has it as its product, in both sides' headers).
      // One not in the list held here counts as existing when it was started
      // from another product.
      const after = useChatStore.getState().conversations[id];
      const asked = before
        ? (before.currentProduct ?? before.product)?.id !== card.id
        : !!after?.product && after.product.id !== card.id;
      if (asked) useInquiryStore.getState().attach(id, card);
      open(id, how);
    } catch (e) {
      useChatStore.setState({ notice: e.message });
    } finally {
      setBusyProduct(null);
    }
  };

  const shareables = useCallback(
    (conv) => {
      // The vendor's own catalogue (or, for a customer, this vendor's): the
      // conversation's product first.
      const vendorId = conv.vendor?.id;
      const mine = products.filter((p) => p.vendorId === vendorId);
      const list = mine.length ? mine : products;
      const first = conv.product ? [conv.product] : [];
      return [...first, ...list.filter((p) => p.id !== conv.product?.id)];
    },
    [products],
  );

  if (!session) return <Navigate to="/" replace />;
  if (wrongSide) return <Navigate to={homeOf(session.user.role)} replace />;
  if (setupError) {
    return (
      <div className="center-note" role="alert">
        <p>The chat server cannot be reached ({setupError}).</p>
        <button type="button" className="button button-primary" onClick={() => window.location.reload()}>
          Try again
        </button>
      </div>
    );
  }
  if (!me) return <div className="center-note">Connecting…</div>;

  const otherUnread = totalUnread - (activeId ? unread[activeId] ?? 0 : 0);
  const strip =
    side === 'customer' ? <ProductStrip products={products} onChat={chatWithVendor} busyId={busyProduct} /> : null;

  return (
    <div className={`app ${activeId ? 'has-active' : ''}`} data-testid={`${side}-page`}>
      <TopBar me={me} totalUnread={totalUnread} connection={connection} onSignOut={signOut} onInbox={openInbox} />
      <ConnectionBanner connection={connection} />
      {notice && (
        <div className="banner banner-error" role="alert" data-testid="notice">
          {notice}
          <button type="button" className="link-button" onClick={dismissNotice}>
            Dismiss
          </button>
        </div>
      )}
      <main className="layout">
        <h1 className="sr-only">{side === 'vendor' ? 'Seller inbox' : 'Messages'}</h1>
        <aside className="list-pane" aria-label="Conversations">
          <ConversationList
            onOpen={open}
            top={strip}
            emptyHint={
              side === 'vendor'
                ? 'No customer has written yet. Conversations appear here as they start.'
                : 'Pick a product above and chat with its vendor.'
            }
          />
        </aside>
        <section className="chat-pane">
          {activeId ? (
            <ChatWindow
              onBack={back}
              backBadge={otherUnread}
              shareables={shareables}
              focusRequest={focusRequest}
              onFocused={focused}
            />
          ) : (
            <div className="chat-placeholder" data-testid="no-conversation">
              <span className="placeholder-icon">
                <ChatIcon />
              </span>
              <h2>{side === 'vendor' ? 'Your customers, in one place' : 'Ask before you buy'}</h2>
              <p>
                {side === 'vendor'
                  ? 'Choose a conversation to answer. Read receipts and typing show up live.'
                  : 'Choose a conversation, or start one from a product.'}
              </p>
            </div>
          )}
        </section>
      </main>
    </div>
  );
}
