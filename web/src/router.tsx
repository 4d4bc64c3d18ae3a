import type { QueryClient } from '@tanstack/react-query';
import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  lazyRouteComponent,
  Outlet,
  redirect,
} from '@tanstack/react-router';
import { ApiKeysPage } from './account/api-keys-page.tsx';
import { SecurityPage } from './account/security-page.tsx';
import { SessionsPage } from './account/sessions-page.tsx';
import { isApiError } from './api/api-client.ts';
import { authApi } from './api/auth-api.ts';
import { LoginPage } from './auth/login-page.tsx';
import { meQuery } from './auth/session.ts';
import { SetupPage } from './auth/setup-page.tsx';
import { datasetQuery, prefetchFirstWindow } from './grid/dataset-query.ts';
import { AppShell } from './layout/app-shell.tsx';
import { HomePage } from './projects/home-page.tsx';
import { MembersPage } from './projects/members-page.tsx';
import { NotFoundPage } from './ui/not-found-page.tsx';

interface RouterContext {
  queryClient: QueryClient;
}

const rootRoute = createRootRouteWithContext<RouterContext>()({
  component: Outlet,
  notFoundComponent: NotFoundPage,
});

const setupRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/setup',
  beforeLoad: async () => {
    const { needed } = await authApi.setupNeeded();
    if (!needed) throw redirect({ to: '/login' });
  },
  component: SetupPage,
});

const loginRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/login',
  validateSearch: (search: Record<string, unknown>) =>
    typeof search.redirect === 'string' ? { redirect: search.redirect } : {},
  component: LoginPage,
});

/** Everything below needs a signed-in user; a visitor goes to setup (first run) or sign-in. */
const appRoute = createRoute({
  getParentRoute: () => rootRoute,
  id: 'app',
  beforeLoad: async ({ context, location }) => {
    try {
      await context.queryClient.ensureQueryData(meQuery);
    } catch (error) {
      if (!isApiError(error, 'UNAUTHENTICATED')) throw error;
      const { needed } = await authApi.setupNeeded();
      if (needed) throw redirect({ to: '/setup' });
      throw redirect({ to: '/login', search: { redirect: location.href } });
    }
  },
  component: AppShell,
});

const homeRoute = createRoute({ getParentRoute: () => appRoute, path: '/', component: HomePage });

const projectRoute = createRoute({ getParentRoute: () => appRoute, path: '/projects/$projectId' });
const projectIndexRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/',
  beforeLoad: ({ params }) => {
    throw redirect({ to: '/projects/$projectId/datasets', params });
  },
});
const datasetsRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/datasets',
  component: lazyRouteComponent(() => import('./datasets/datasets-page.tsx'), 'DatasetsPage'),
});
const datasetRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/datasets/$datasetId',
  // Data first, in parallel with the grid's code.
  loader: ({ context, params }) => {
    prefetchFirstWindow(params.projectId, params.datasetId);
    void context.queryClient.prefetchQuery(datasetQuery(params.projectId, params.datasetId));
  },
  component: lazyRouteComponent(() => import('./grid/dataset-page.tsx'), 'DatasetPage'),
});
const membersRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/members',
  component: MembersPage,
});
const settingsRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/settings',
  component: lazyRouteComponent(() => import('./settings/settings-page.tsx'), 'SettingsPage'),
});
const spendRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/spend',
  component: lazyRouteComponent(() => import('./settings/spend-page.tsx'), 'SpendPage'),
});
const documentsRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/documents',
  // A report's citation opens a document's viewer at a page.
  validateSearch: (search: Record<string, unknown>) => ({
    ...(typeof search.document === 'string' ? { document: search.document } : {}),
    ...(Number.isInteger(Number(search.page)) && Number(search.page) > 0
      ? { page: Number(search.page) }
      : {}),
  }),
  component: lazyRouteComponent(() => import('./documents/documents-page.tsx'), 'DocumentsPage'),
});
// — workflows (issue #17 item 7) —
const workflowsRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/workflows',
  component: lazyRouteComponent(() => import('./workflows/workflows-page.tsx'), 'WorkflowsPage'),
});
const newWorkflowRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/workflows/new',
  component: lazyRouteComponent(() => import('./workflows/workflows-page.tsx'), 'NewWorkflowPage'),
});
const workflowTemplatesRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/workflows/templates',
  component: lazyRouteComponent(
    () => import('./workflows/template-picker.tsx'),
    'WorkflowTemplatesPage',
  ),
});
const workflowRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/workflows/$workflowId',
  component: lazyRouteComponent(() => import('./workflows/workflow-page.tsx'), 'WorkflowPage'),
});
const workflowRunRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/workflow-runs/$runId',
  component: lazyRouteComponent(
    () => import('./workflows/workflow-run-page.tsx'),
    'WorkflowRunPage',
  ),
});
// — chat (issue #16) —
const chatRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/chat',
  validateSearch: (search: Record<string, unknown>): { thread?: string; q?: string } => ({
    ...(typeof search.thread === 'string' ? { thread: search.thread } : {}),
    ...(typeof search.q === 'string' ? { q: search.q } : {}),
  }),
  component: lazyRouteComponent(() => import('./chat/chat-page.tsx'), 'ChatPage'),
});
const agentsRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/agents',
  component: lazyRouteComponent(() => import('./chat/agents-page.tsx'), 'AgentsPage'),
});
// Gateway keys (h-llm, issue #19).
const gatewayRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/gateway',
  component: lazyRouteComponent(() => import('./gateway/gateway-keys-page.tsx'), 'GatewayKeysPage'),
});
const monitorRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/monitor',
  component: lazyRouteComponent(() => import('./monitor/monitor-page.tsx'), 'MonitorPage'),
});
const monitorSessionRoute = createRoute({
  getParentRoute: () => projectRoute,
  path: '/monitor/sessions/$sessionKey',
  component: lazyRouteComponent(
    () => import('./monitor/monitor-session-page.tsx'),
    'MonitorSessionPage',
  ),
});

const apiKeysRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/account/api-keys',
  component: ApiKeysPage,
});
const securityRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/account/security',
  component: SecurityPage,
});
const sessionsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/account/sessions',
  component: SessionsPage,
});

const routeTree = rootRoute.addChildren([
  setupRoute,
  loginRoute,
  appRoute.addChildren([
    homeRoute,
    projectRoute.addChildren([
      projectIndexRoute,
      datasetsRoute,
      datasetRoute,
      membersRoute,
      settingsRoute,
      spendRoute,
      gatewayRoute,
      monitorRoute,
      monitorSessionRoute,
      documentsRoute,
      workflowsRoute,
      newWorkflowRoute,
      workflowTemplatesRoute,
      workflowRoute,
      workflowRunRoute,
      chatRoute,
      agentsRoute,
    ]),
    apiKeysRoute,
    sessionsRoute,
    securityRoute,
  ]),
]);

export function createAppRouter(queryClient: QueryClient) {
  return createRouter({
    routeTree,
    context: { queryClient },
    defaultPreload: 'intent',
    scrollRestoration: true,
  });
}

declare module '@tanstack/react-router' {
  interface Register {
    router: ReturnType<typeof createAppRouter>;
  }
}
