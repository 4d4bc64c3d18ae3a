import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { SpendRow } from '../api/llm-api.ts';
import { formatNanoUsd, formatSpend } from '../ui/format.ts';
import { DAY_SECONDS, spendSeries } from './spend-series.ts';

const PALETTE = [
  '#3b5bdb',
  '#e8590c',
  '#2b8a3e',
  '#c2255c',
  '#7048e8',
  '#0c8599',
  '#f08c00',
  '#5c940d',
];
const shortDay = (day: string) =>
  new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, {
    month: 'short',
    day: 'numeric',
    timeZone: 'UTC',
  });

/**
 * Cost per day by model over the selected period as stacked bars (uPlot: small, canvas, no
 * inline script). The x axis is the period itself, days without calls included; the table
 * beside it has the same figures for screen readers and for prices that are unknown.
 */
export function SpendChart({
  rows,
  first,
  last,
}: {
  rows: readonly SpendRow[];
  /** The period's first and last day (YYYY-MM-DD). */
  first: string;
  last: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const series = spendSeries(rows, first, last);
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const { models, data, days, usd } = spendSeries(rows, first, last);
    const styles = getComputedStyle(document.documentElement);
    const text = styles.getPropertyValue('--text-muted').trim() || '#666';
    const grid = styles.getPropertyValue('--border').trim() || '#ddd';
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const xs = data[0] as number[];
    const min = xs[0]! - DAY_SECONDS / 2;
    const max = xs.at(-1)! + DAY_SECONDS / 2;
    // One tick per day for a week or a month; fewer for longer periods.
    const step = Math.max(1, Math.ceil(days.length / 12));
    const bars = uPlot.paths.bars!({ size: [0.7, 48], align: 0 });
    const reversed = [...models].reverse();
    const chart = new uPlot(
      {
        width: Math.max(300, element.clientWidth),
        height: 260,
        scales: {
          x: { time: true, range: () => [min, max] },
          y: { range: (_chart, _min, dataMax) => [0, dataMax > 0 ? dataMax * 1.1 : 1] },
        },
        axes: [
          {
            ...axis,
            splits: () => xs.filter((_, at) => at % step === 0),
            values: (_chart, ticks) =>
              ticks.map((tick) => shortDay(new Date(tick * 1000).toISOString().slice(0, 10))),
          },
          {
            ...axis,
            values: (_chart, ticks) => ticks.map((tick) => `$${tick.toFixed(tick < 1 ? 4 : 2)}`),
            size: 70,
          },
        ],
        legend: { show: models.length > 0 },
        series: [
          {},
          ...reversed.map((model, index) => {
            const color = PALETTE[(models.length - 1 - index) % PALETTE.length]!;
            return {
              label: model,
              stroke: color,
              fill: color,
              width: 0,
              paths: bars,
              points: { show: false },
              // The legend shows this model's own cost, not the stacked height.
              value: (_chart: uPlot, _value: number | null, _series: number, at: number | null) =>
                at === null
                  ? '—'
                  : formatNanoUsd(Math.round((usd[models.length - 1 - index]![at] ?? 0) * 1e9)),
            };
          }),
        ],
      },
      data,
      element,
    );
    element.dataset.xMin = new Date(min * 1000).toISOString();
    element.dataset.xMax = new Date(max * 1000).toISOString();
    const observer = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(300, element.clientWidth), height: 260 }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [rows, first, last]);
  return (
    <>
      <div
        ref={container}
        className="spend-chart"
        role="img"
        aria-label={`Cost per day by model from ${first} to ${last}; the table “Cost per day” has the same figures`}
        data-days={series.days.length}
      />
      <details className="spend-days">
        <summary>Cost per day (table)</summary>
        <div className="table-scroll">
          <table className="data-table" data-testid="spend-days">
            <caption className="visually-hidden">Cost per day</caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col" className="number">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {series.days.map((day, at) => (
                <tr key={day}>
                  <td>{day}</td>
                  <td className="number">
                    {formatSpend(series.totals[at]!.costNano, series.totals[at]!.unpricedAttempts)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </>
  );
}
