import { useQueryClient } from '@tanstack/react-query';
import { Link, Outlet, useNavigate, useParams, useRouterState } from '@tanstack/react-router';
import { authApi } from '../api/auth-api.ts';
import { useMe } from '../auth/session.ts';
import { ErrorBoundary } from '../ui/error-boundary.tsx';
import { Menu } from '../ui/menu.tsx';
import { useNotices } from '../ui/notices.tsx';
import { ProjectSwitcher } from './project-switcher.tsx';
import { ThemePicker } from './theme-picker.tsx';

/** A project's sections, in the order of its navigation: route segment and label. */
const PROJECT_SECTIONS = [
  ['datasets', 'Datasets'],
  ['documents', 'Documents'],
  ['workflows', 'Workflows'],
  ['chat', 'Chat'],
  ['agents', 'Agents'],
  ['members', 'Members'],
  ['settings', 'Settings'],
  ['spend', 'Spend'],
  ['gateway', 'Gateway'],
  ['monitor', 'Monitor'],
] as const;

/** The label of the project section a path is in (`/projects/<id>/<section>/…`). */
const sectionLabel = (pathname: string) => {
  const segment = pathname.split('/')[3];
  return PROJECT_SECTIONS.find(([section]) => section === segment)?.[1];
};

/**
 * The project's pages as one menu named after the current page, for a phone (≤ 640 px,
 * app.css). Its own component: it follows the location, and the frame around it must not
 * render again on a navigation (after sign-out the user is gone before the frame unmounts).
 */
function SectionMenu({ projectId }: { projectId: string }) {
  const pathname = useRouterState({ select: (state) => state.location.pathname });
  return (
    <nav aria-label="Project" className="project-nav-menu">
      <Menu
        label={
          <>
            <span aria-hidden="true">☰ </span>
            {sectionLabel(pathname) ?? 'Sections'}
          </>
        }
        className="menu-button"
      >
        <SectionLinks projectId={projectId} role="menuitem" />
      </Menu>
    </nav>
  );
}

/** The project's sections as links: the top bar's line, or the phone's menu items. */
function SectionLinks({ projectId, role }: { projectId: string; role?: 'menuitem' }) {
  return PROJECT_SECTIONS.map(([section, label]) => (
    <Link
      key={section}
      role={role}
      to={`/projects/$projectId/${section}`}
      params={{ projectId }}
      activeProps={{ 'aria-current': 'page' }}
    >
      {label}
    </Link>
  ));
}

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
          <>
            <nav aria-label="Project" className="project-nav">
              <SectionLinks projectId={projectId} />
            </nav>
            {/* A phone's width (≤ 640 px, app.css): the same links one menu away, never a
                line that scrolls sideways. */}
            <SectionMenu projectId={projectId} />
          </>
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
