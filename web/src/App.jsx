import { lazy, Suspense } from 'react';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router-dom';
import ChatPage from './pages/ChatPage.jsx';
import OperatorPage from './pages/OperatorPage.jsx';
import ReplayPage from './pages/ReplayPage.jsx';
import SignIn from './pages/SignIn.jsx';

// The dashboard and its chart library load only when a vendor opens it.
const DashboardPage = lazy(() => import('./pages/DashboardPage.jsx'));

export default function App() {
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/" element={<SignIn />} />
        <Route path="/chat" element={<ChatPage key="customer" side="customer" />} />
        <Route path="/vendor/chat" element={<ChatPage key="vendor" side="vendor" />} />
        <Route
          path="/vendor/analytics"
          element={
            <Suspense fallback={null}>
              <DashboardPage />
            </Suspense>
          }
        />
        <Route path="/replay/:conversationId" element={<ReplayPage key="participant" />} />
        <Route path="/operator" element={<OperatorPage />} />
        <Route path="/operator/conversations/:conversationId" element={<ReplayPage key="operator" operator />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </BrowserRouter>
  );
}
