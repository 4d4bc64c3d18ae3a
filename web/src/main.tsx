import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from '@tanstack/react-router';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { isApiError, onUnauthenticated } from './api/api-client.ts';
import { createAppRouter } from './router.tsx';
import { ConfirmProvider } from './ui/confirm.tsx';
import { ErrorBoundary } from './ui/error-boundary.tsx';
import { LiveRegionProvider } from './ui/live-region.tsx';
import { NoticeProvider } from './ui/notices.tsx';
import { applyTheme, storedTheme } from './ui/theme.ts';
import './styles/theme.css';
import './styles/app.css';
import './styles/grid.css';

applyTheme(storedTheme());

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // Retry only what the server says is retryable (never 4xx).
      retry: (failures, error) => failures < 2 && (!isApiError(error) || error.retryable),
      refetchOnWindowFocus: false,
    },
  },
});
const router = createAppRouter(queryClient);

// A session that ends while the app is open (expired, revoked elsewhere): back to sign-in.
onUnauthenticated(() => {
  queryClient.removeQueries({ queryKey: ['me'] });
  const here = window.location.pathname;
  if (here !== '/login' && here !== '/setup') {
    void router.navigate({ to: '/login', search: { redirect: here + window.location.search } });
  }
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ErrorBoundary label="Brain Cells">
      <QueryClientProvider client={queryClient}>
        <NoticeProvider>
          <ConfirmProvider>
            <LiveRegionProvider>
              <RouterProvider router={router} />
            </LiveRegionProvider>
          </ConfirmProvider>
        </NoticeProvider>
      </QueryClientProvider>
    </ErrorBoundary>
  </StrictMode>,
);
