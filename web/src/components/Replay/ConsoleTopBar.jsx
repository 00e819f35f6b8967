import { Link, useNavigate } from 'react-router-dom';
import Avatar from '../Chat/Avatar.jsx';
import { BackIcon, ChatIcon, LogoutIcon } from '../Chat/icons.jsx';
import { clearSession } from '../../utils/auth.js';

const PILL = { customer: 'Shopper', vendor: 'Seller', operator: 'Support' };

/** The top bar of the replay console and the operator page: where to go back, who is signed in. */
export default function ConsoleTopBar({ me, title, back, onSignOut }) {
  const navigate = useNavigate();
  const signOut = () => {
    onSignOut?.();
    clearSession();
    navigate('/', { replace: true });
  };
  return (
    <header className="topbar console-topbar">
      <div className="console-topbar-left">
        {back && (
          <Link className="icon-button" to={back.to} aria-label={back.label} title={back.label} data-testid="console-back">
            <BackIcon />
          </Link>
        )}
        <span className="brand">
          <span className="brand-mark">
            <ChatIcon />
          </span>
          <span className="console-brand-text">souk</span>
          <span className={`role-pill role-${me.role}`}>{PILL[me.role] ?? me.role}</span>
        </span>
        <span className="console-title">{title}</span>
      </div>
      <div className="topbar-right">
        <span className="me" data-testid="me-name">
          <Avatar id={me.id} name={me.name} size={30} />
          <span className="me-name">{me.name}</span>
        </span>
        <button type="button" className="icon-button" onClick={signOut} aria-label="Sign out" title="Sign out" data-testid="sign-out">
          <LogoutIcon />
        </button>
      </div>
    </header>
  );
}
