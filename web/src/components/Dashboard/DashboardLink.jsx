import { Link } from 'react-router-dom';
import './link.css';

/** The vendor's way from the chat's top bar to the dashboard: an icon, and its name from tablet width on. */
export default function DashboardLink() {
  return (
    <Link className="dash-link" to="/vendor/analytics" aria-label="Dashboard" title="Dashboard" data-testid="dashboard-link">
      <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round">
        <path d="M4 20V10M10 20V4M16 20v-7M22 20H2" />
      </svg>
      <span className="dash-link-text">Dashboard</span>
    </Link>
  );
}
