import { useMemo, useState } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import Avatar from '../components/Chat/Avatar.jsx';
import { BackIcon, ChatIcon, LogoutIcon } from '../components/Chat/icons.jsx';
import DailyChart from '../components/Dashboard/DailyChart.jsx';
import HourlyChart from '../components/Dashboard/HourlyChart.jsx';
import RangePicker from '../components/Dashboard/RangePicker.jsx';
import ResponseTrend from '../components/Dashboard/ResponseTrend.jsx';
import Summary from '../components/Dashboard/Summary.jsx';
import TopProducts from '../components/Dashboard/TopProducts.jsx';
import { longDate } from '../components/Dashboard/format.js';
import { DEFAULT_PRESET, PRESETS, customRange, presetRange } from '../components/Dashboard/range.js';
import { useAnalytics } from '../components/Dashboard/useAnalytics.js';
import '../components/Dashboard/dashboard.css';
import { clearSession, homeOf, loadSession } from '../utils/auth.js';

/**
 * The range in the URL: `?days=7|30|90` (default 30) or `?from=YYYY-MM-DD&to=YYYY-MM-DD`
 * (both included), so a view can be reloaded and shared.
 */
function rangeFromParams(params) {
  const from = params.get('from');
  const to = params.get('to');
  if (from && to) {
    const r = customRange(from, to);
    if (!r.error) return { value: { first: r.first, last: r.last }, range: r };
  }
  const days = Number(params.get('days'));
  const preset = PRESETS.includes(days) ? days : DEFAULT_PRESET;
  return { value: { preset }, range: presetRange(preset) };
}

function Loading() {
  return (
    <div className="dash-loading" role="status" data-testid="dashboard-loading">
      <span className="spinner" aria-hidden="true" /> Loading your figures…
    </div>
  );
}

function Empty({ range, unread }) {
  return (
    <section className="dash-card dash-empty" data-testid="dashboard-empty" aria-labelledby="dash-empty-title">
      <span className="placeholder-icon" aria-hidden="true">
        <ChatIcon />
      </span>
      <h2 id="dash-empty-title">No conversations in this range</h2>
      <p className="muted">
        No customer wrote to you between {longDate(range.first)} and {longDate(range.last)}. When they do, their
        messages, your response times and the products they ask about show here.
      </p>
      {unread > 0 && <p data-testid="stat-unread" data-value={unread}>{unread} unread messages are waiting for you.</p>}
      <Link className="button button-primary" to="/vendor/chat">
        Open your conversations
      </Link>
    </section>
  );
}

/**
 * `/vendor/analytics`: a vendor's figures over a date range, as
 * `GET /api/vendor/analytics` computes them from the log.
 */
export default function DashboardPage() {
  const [session] = useState(() => loadSession());
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const { value, range } = useMemo(() => rangeFromParams(params), [params]);

  if (!session) return <Navigate to="/" replace />;
  if (session.user.role !== 'vendor') return <Navigate to={homeOf(session.user.role)} replace />;

  const onRange = (v) =>
    setParams(v.preset ? { days: String(v.preset) } : { from: v.first, to: v.last }, { replace: false });

  return (
    <DashboardView
      session={session}
      value={value}
      range={range}
      onRange={onRange}
      onSignOut={() => {
        clearSession();
        navigate('/', { replace: true });
      }}
    />
  );
}

function DashboardView({ session, value, range, onRange, onSignOut }) {
  const data = useAnalytics(session.token, range);
  const me = session.user;
  const ready = data.status === 'ready' && data.range.first === range.first && data.range.last === range.last;
  const f = ready ? data.figures : null;
  const empty = f && f.conversations === 0 && f.newConversations === 0 && f.messagesReceived === 0 && f.messagesSent === 0;

  return (
    <div className="dash-page" data-testid="dashboard-page">
      <header className="topbar">
        <Link className="brand" to="/vendor/chat">
          <span className="brand-mark">
            <ChatIcon />
          </span>
          souk
          <span className="role-pill role-vendor">Seller</span>
        </Link>
        <div className="topbar-right">
          <span className="me" data-testid="me-name">
            <Avatar id={me.id} name={me.name} size={30} />
            <span className="me-name">{me.name}</span>
          </span>
          <button type="button" className="icon-button" onClick={onSignOut} aria-label="Sign out" title="Sign out" data-testid="sign-out">
            <LogoutIcon />
          </button>
        </div>
      </header>
      <main className="dash-main" aria-busy={!ready}>
        <div className="dash-head">
          <div>
            <Link className="dash-back" to="/vendor/chat" data-testid="back-to-chat">
              <BackIcon /> Conversations
            </Link>
            <h1>Dashboard</h1>
            <p className="muted" data-testid="range-label" data-first={range.first} data-last={range.last}>
              {longDate(range.first)} – {longDate(range.last)} · {range.days} days, UTC
            </p>
          </div>
          <RangePicker key={value.preset ?? `${value.first}/${value.last}`} value={value} onChange={onRange} />
        </div>
        {data.status === 'error' && (
          <p className="form-error dash-error" role="alert" data-testid="dashboard-error">
            {data.error?.status === 401 ? (
              <>
                Your session has ended. <a href="/">Sign in again</a>
              </>
            ) : (
              <>The figures could not be loaded: {data.error?.message ?? String(data.error)}</>
            )}
          </p>
        )}
        {data.status === 'loading' && <Loading />}
        {ready && empty && <Empty range={range} unread={f.unreadBacklog} />}
        {ready && !empty && (
          <div className="dash-grid" data-testid="dashboard-figures" data-first={range.first} data-last={range.last}>
            <Summary figures={f} previous={data.previous} days={range.days} />
            <DailyChart byDay={f.byDay} />
            <HourlyChart byHour={f.byHour} />
            <ResponseTrend trend={data.trend} />
            <TopProducts products={f.topProducts} newConversations={f.newConversations} />
          </div>
        )}
      </main>
    </div>
  );
}
