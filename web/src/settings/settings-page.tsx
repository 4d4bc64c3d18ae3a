import { useParams } from '@tanstack/react-router';
import { useState } from 'react';
import { BudgetsPanel } from './budgets-panel.tsx';
import { PricesPanel } from './prices-panel.tsx';
import { ProvidersPanel } from './providers-panel.tsx';

const TABS = [
  { id: 'providers', label: 'Providers' },
  { id: 'prices', label: 'Prices' },
  { id: 'budgets', label: 'Budgets' },
] as const;
type Tab = (typeof TABS)[number]['id'];

/** /projects/:projectId/settings — LLM providers, price overrides and budgets of a project. */
export function SettingsPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  // ?tab=prices opens a tab directly (the model picker links to Prices).
  const [tab, setTab] = useState<Tab>(() => {
    const wanted = new URLSearchParams(window.location.search).get('tab');
    return TABS.find((item) => item.id === wanted)?.id ?? 'providers';
  });
  return (
    <section className="page">
      <h1>Settings</h1>
      <div className="tabs" role="tablist" aria-label="Settings">
        {TABS.map((item) => (
          <button
            key={item.id}
            type="button"
            role="tab"
            id={`tab-${item.id}`}
            aria-selected={tab === item.id}
            aria-controls={`panel-${item.id}`}
            tabIndex={tab === item.id ? 0 : -1}
            onClick={() => setTab(item.id)}
            onKeyDown={(event) => {
              const index = TABS.findIndex((candidate) => candidate.id === tab);
              const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
              if (!step) return;
              const next = TABS[(index + step + TABS.length) % TABS.length]!;
              setTab(next.id);
              document.getElementById(`tab-${next.id}`)?.focus();
            }}
          >
            {item.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'providers' && <ProvidersPanel projectId={projectId} />}
        {tab === 'prices' && <PricesPanel projectId={projectId} />}
        {tab === 'budgets' && <BudgetsPanel projectId={projectId} />}
      </div>
    </section>
  );
}
