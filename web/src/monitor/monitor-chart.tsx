import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Tokens } from './monitor-api.ts';

const BUCKETS = [
  ['input', 'Input', '#3b5bdb'],
  ['output', 'Output', '#e8590c'],
  ['reasoning', 'Reasoning', '#7048e8'],
  ['cacheRead', 'Cache read', '#2b8a3e'],
  ['cacheWrite', 'Cache write', '#c2255c'],
] as const;

/** A point of a token chart: a time (epoch seconds) and its tokens by bucket. */
export interface TokenPoint {
  at: number;
  tokens: Tokens;
}

/**
 * Tokens over time by bucket — per day on the Monitor page, per model call on a session's
 * page (uPlot, like the spend page: small, canvas, no inline script).
 */
export function MonitorChart({ points, label }: { points: readonly TokenPoint[]; label: string }) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const xs = points.map((point) => point.at);
    const lo = xs[0] ?? 0;
    const hi = xs.at(-1) ?? 0;
    const data = [
      xs,
      ...BUCKETS.map(([key]) => points.map((point) => point.tokens[key])),
    ] as uPlot.AlignedData;
    const styles = getComputedStyle(document.documentElement);
    const text = styles.getPropertyValue('--text-muted').trim() || '#666';
    const grid = styles.getPropertyValue('--border').trim() || '#ddd';
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const chart = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height: 260,
        scales: {
          // One point alone would be spread over years: show a week around it.
          x: {
            time: true,
            range: lo === hi ? [lo - 3 * 86_400, hi + 3 * 86_400] : [lo, hi],
          },
        },
        axes: [axis, { ...axis, size: 80 }],
        series: [
          {},
          ...BUCKETS.map(([, label, stroke]) => ({
            label,
            stroke,
            width: 2,
            points: { show: true, size: 5 },
          })),
        ],
      },
      data,
      element,
    );
    const observer = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(320, element.clientWidth), height: 260 }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [points]);
  return <div ref={container} className="spend-chart" role="img" aria-label={label} />;
}
