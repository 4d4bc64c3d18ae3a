import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { type SavedView, type ViewDefinition, viewApi } from '../api/view-api.ts';
import { useConfirm } from '../ui/confirm.tsx';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { useNotices } from '../ui/notices.tsx';

export const viewsQueryKey = (projectId: string, datasetId: string) => [
  'views',
  projectId,
  datasetId,
];

/** Whether the grid shows something other than what the active view saved. */
export function viewModified(view: SavedView | undefined, current: ViewDefinition): boolean {
  if (!view) return false;
  const normal = (definition: ViewDefinition) =>
    JSON.stringify([
      definition.filters,
      definition.sort,
      definition.search,
      [...definition.hiddenColumnIds].sort(),
    ]);
  return normal(view) !== normal(current);
}

/**
 * Saved views in the toolbar's "View ▾" menu (docs/sheets.md "Saved views"): pick a view (its
 * filters, sort, search and hidden columns apply to this grid only), go back to all rows, and
 * — for editors — save the grid as a new view, update the active one, or delete it. Returns
 * the menu items, the naming dialog (rendered outside the menu, which closes on a click) and
 * the menu's label.
 */
export function useSavedViews(props: {
  projectId: string;
  datasetId: string;
  readOnly: boolean;
  active: SavedView | undefined;
  current: ViewDefinition;
  onApply(view: SavedView | undefined): void;
}) {
  const { projectId, datasetId, readOnly, active, current, onApply } = props;
  const queryClient = useQueryClient();
  const notices = useNotices();
  const confirm = useConfirm();
  const [naming, setNaming] = useState(false);
  const [nameError, setNameError] = useState<unknown>();
  const views = useQuery({
    queryKey: viewsQueryKey(projectId, datasetId),
    queryFn: () => viewApi.list(projectId, datasetId),
  });
  const refresh = () =>
    queryClient.invalidateQueries({ queryKey: viewsQueryKey(projectId, datasetId) });
  const modified = viewModified(active, current);

  const update = async () => {
    if (!active) return;
    try {
      onApply(await viewApi.update(projectId, datasetId, active, { definition: current }));
      notices.info(`View “${active.name}” updated.`);
    } catch (error) {
      notices.error(error);
    }
    await refresh();
  };
  const remove = async () => {
    if (!active) return;
    if (
      !(await confirm({
        title: 'Delete view?',
        message: `Delete the saved view “${active.name}” for everyone in the project? The data is not touched.`,
        confirmLabel: 'Delete view',
        danger: true,
      }))
    )
      return;
    try {
      await viewApi.remove(projectId, datasetId, active.id);
      onApply(undefined);
    } catch (error) {
      notices.error(error);
    }
    await refresh();
  };

  const label = active ? `View: ${active.name}${modified ? ' •' : ''} ▾` : 'View ▾';
  const ariaLabel = active ? `View: ${active.name}${modified ? ' (modified)' : ''}` : undefined;
  const items = (
    <>
      <div className="menu-heading" role="presentation">
        Saved views
      </div>
      <button
        type="button"
        role="menuitem"
        aria-current={!active || undefined}
        onClick={() => onApply(undefined)}
      >
        All rows{active ? '' : ' ✓'}
      </button>
      {(views.data?.items ?? []).map((view) => (
        <button
          key={view.id}
          type="button"
          role="menuitem"
          aria-current={active?.id === view.id || undefined}
          onClick={() => onApply(view)}
        >
          {view.name}
          {active?.id === view.id ? ' ✓' : ''}
        </button>
      ))}
      {!readOnly && (
        <button type="button" role="menuitem" onClick={() => setNaming(true)}>
          Save as new view…
        </button>
      )}
      {!readOnly && active && (
        <button type="button" role="menuitem" disabled={!modified} onClick={() => void update()}>
          Update “{active.name}”
        </button>
      )}
      {!readOnly && active && (
        <button type="button" role="menuitem" className="danger" onClick={() => void remove()}>
          Delete “{active.name}”…
        </button>
      )}
    </>
  );
  const dialog = (
    <Dialog
      open={naming}
      title="Save view"
      onClose={() => {
        setNaming(false);
        setNameError(undefined);
      }}
    >
      <form
        className="stack"
        onSubmit={(event) => {
          event.preventDefault();
          const name = String(new FormData(event.currentTarget).get('name')).trim();
          void viewApi.create(projectId, datasetId, { name, ...current }).then(async (view) => {
            setNaming(false);
            setNameError(undefined);
            onApply(view);
            await refresh();
          }, setNameError);
        }}
      >
        <p className="muted">
          Saves the filters, sort, search and hidden columns shown now, for everyone in the project.
        </p>
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <FormError error={nameError} />
        <div className="dialog-actions">
          <button type="submit" className="primary">
            Save view
          </button>
        </div>
      </form>
    </Dialog>
  );
  return { items, dialog, label, ariaLabel };
}
