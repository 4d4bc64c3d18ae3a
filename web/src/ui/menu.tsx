import { type ReactNode, useId, useRef } from 'react';

interface MenuProps {
  label: ReactNode;
  /** Accessible name when the label is an icon. */
  ariaLabel?: string;
  className?: string;
  children: ReactNode;
}

/**
 * A menu button over the Popover API: the browser handles light dismiss and Escape; we move
 * focus into the menu when it opens and let arrow keys walk its items.
 */
export function Menu({ label, ariaLabel, className, children }: MenuProps) {
  const id = useId();
  const popover = useRef<HTMLDivElement>(null);
  const items = () => [
    ...(popover.current?.querySelectorAll<HTMLElement>('[role=menuitem]:not([disabled])') ?? []),
  ];

  return (
    <>
      <button
        type="button"
        className={className ?? 'menu-button'}
        popoverTarget={id}
        aria-haspopup="menu"
        aria-label={ariaLabel}
      >
        {label}
      </button>
      <div
        id={id}
        ref={popover}
        popover="auto"
        role="menu"
        className="menu-popover"
        onToggle={(event) => {
          if ((event as unknown as ToggleEvent).newState === 'open') items()[0]?.focus();
        }}
        onClick={(event) => {
          if ((event.target as HTMLElement).closest('[role=menuitem]'))
            popover.current?.hidePopover();
        }}
        onKeyDown={(event) => {
          const list = items();
          const index = list.indexOf(document.activeElement as HTMLElement);
          if (event.key === 'ArrowDown') list[(index + 1) % list.length]?.focus();
          else if (event.key === 'ArrowUp') list[(index - 1 + list.length) % list.length]?.focus();
          else return;
          event.preventDefault();
        }}
      >
        {children}
      </div>
    </>
  );
}
