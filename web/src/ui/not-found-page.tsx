import { Link } from '@tanstack/react-router';

export function NotFoundPage() {
  return (
    <main className="page">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Go to your projects</Link>
      </p>
    </main>
  );
}
