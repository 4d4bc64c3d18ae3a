import { useQueryClient } from '@tanstack/react-query';
import { Link, Outlet, useNavigate, useParams } from '@tanstack/react-router';
import { authApi } from '../api/auth-api.ts';
import { useMe } from '../auth/session.ts';
import { ErrorBoundary } from '../ui/error-boundary.tsx';
import { Menu } from '../ui/menu.tsx';
import { useNotices } from '../ui/notices.tsx';
import { ProjectSwitcher } from './project-switcher.tsx';
import { ThemePicker } from './theme-picker.tsx';

/** The signed-in frame: top bar with project switcher, project navigation, account menu. */
export function AppShell() {
  const me = useMe();
  const params = useParams({ strict: false }) as { projectId?: string };
  const projectId = params.projectId;
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const notices = useNotices();

  const logout = async () => {
    try {
      await authApi.logout();
    } catch (error) {
      notices.error(error);
    }
    queryClient.clear();
    await navigate({ to: '/login' });
  };

  return (
    <div className="app-shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top-bar">
        <Link to="/" className="brand">
          Brain Cells
        </Link>
        <ProjectSwitcher projectId={projectId} />
        {projectId && (
          <nav aria-label="Project" className="project-nav">
            <Link
              to="/projects/$projectId/datasets"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Datasets
            </Link>
            <Link
              to="/projects/$projectId/documents"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Documents
            </Link>
            <Link
              to="/projects/$projectId/workflows"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Workflows
            </Link>
            <Link
              to="/projects/$projectId/chat"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Chat
            </Link>
            <Link
              to="/projects/$projectId/agents"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Agents
            </Link>
            <Link
              to="/projects/$projectId/members"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Members
            </Link>
            <Link
              to="/projects/$projectId/settings"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Settings
            </Link>
            <Link
              to="/projects/$projectId/spend"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Spend
            </Link>
            <Link
              to="/projects/$projectId/gateway"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Gateway
            </Link>
            <Link
              to="/projects/$projectId/monitor"
              params={{ projectId }}
              activeProps={{ 'aria-current': 'page' }}
            >
              Monitor
            </Link>
          </nav>
        )}
        <div className="top-bar-end">
          <ThemePicker />
          <Menu label={me.user.displayName || me.user.email} className="menu-button account-button">
            <Link role="menuitem" to="/account/api-keys">
              API keys
            </Link>
            <Link role="menuitem" to="/account/security">
              Password and two-factor
            </Link>
            <Link role="menuitem" to="/account/sessions">
              Sessions
            </Link>
            <button role="menuitem" type="button" onClick={logout}>
              Sign out
            </button>
          </Menu>
        </div>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        <ErrorBoundary>
          <Outlet />
        </ErrorBoundary>
      </main>
    </div>
  );
}
