import { createRoot } from 'react-dom/client';
import { App } from './components/App';
import { live } from './stores/live';
// One stylesheet per area, in cascade order.
import './styles/theme.css';
import './styles/base.css';
import './styles/controls.css';
import './styles/badges.css';
import './styles/layout.css';
import './styles/lists.css';
import './styles/held.css';
import './styles/detail.css';
import './styles/request.css';
import './styles/json.css';
import './styles/answer.css';
import './styles/chunks.css';
import './styles/dialogs.css';
import './styles/tapes.css';
import './styles/runs.css';
import './styles/threads.css';
import './styles/waterfall.css';
import './styles/compare.css';
import './styles/resend.css';

// The page was opened with ?token=...; the server set a cookie, so the token can leave the
// address bar (and the history).
const url = new URL(location.href);
if (url.searchParams.has('token')) {
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
}

live.start();
createRoot(document.getElementById('root')!).render(<App />);
