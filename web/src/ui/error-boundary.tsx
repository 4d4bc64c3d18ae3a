import { Component, type ErrorInfo, type ReactNode } from 'react';
import { describeError } from '../api/api-error.ts';

interface Props {
  children: ReactNode;
  /** What to call the failed part ("this page", "the grid"). */
  label?: string;
}

interface State {
  error: unknown;
}

/** Catches render errors below it and shows them as text, with a way to try again. */
export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: undefined };

  static getDerivedStateFromError(error: unknown): State {
    return { error };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error('Render error', error, info.componentStack);
  }

  override render() {
    if (this.state.error === undefined) return this.props.children;
    return (
      <div role="alert" className="error-panel">
        <h2>Something went wrong in {this.props.label ?? 'this page'}</h2>
        <p>{describeError(this.state.error)}</p>
        <button type="button" onClick={() => this.setState({ error: undefined })}>
          Try again
        </button>{' '}
        <button type="button" onClick={() => window.location.reload()}>
          Reload the page
        </button>
      </div>
    );
  }
}
