import { createRoot } from 'react-dom/client';
import { App } from './components/App';
import { live } from './stores/live';
import './styles.css';

// The page was opened with ?token=...; the server set a cookie, so the token can leave the
// address bar (and the history).
const url = new URL(location.href);
if (url.searchParams.has('token')) {
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
}

live.start();
createRoot(document.getElementById('root')!).render(<App />);
