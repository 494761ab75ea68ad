/**
 * Time-series charts with uPlot (served from the uplot package, no CDN):
 * time axis in the meter's or portfolio's zone, gaps left open and shaded,
 * a click handler for the point under the cursor.
 */
import { axisLabels, dateTime } from './format.js';
import uPlot from './vendor/uPlot.esm.js';

/** Colours of the qualities (and of settlement figures), the same in the chart and its legend. */
export const QUALITY_COLOURS = /** @type {Record<string, string>} */ ({
  measured: '#2563eb',
  validated: '#0f766e',
  estimated: '#b45309',
  edited: '#7c3aed',
  suspect: '#dc2626',
  missing: '#6b7280',
  settlement: '#15803d',
  mixed: '#6b7280',
});

/**
 * Shades the gaps (x ranges in seconds) behind the series.
 * @param {[number, number][]} gaps
 * @returns {uPlot.Plugin}
 */
function gapShading(gaps) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          ctx.fillStyle = 'rgba(220, 38, 38, 0.12)';
          for (const [a, b] of gaps) {
            const x0 = u.valToPos(a, 'x', true);
            const x1 = u.valToPos(b, 'x', true);
            if (x1 > bbox.left && x0 < bbox.left + bbox.width) ctx.fillRect(Math.max(x0, bbox.left), bbox.top, Math.min(x1, bbox.left + bbox.width) - Math.max(x0, bbox.left), bbox.height);
          }
          ctx.restore();
        },
      ],
    },
  };
}

/**
 * @typedef {object} ChartOptions
 * @property {string} tz IANA zone of the time axis
 * @property {uPlot.AlignedData} data x in epoch seconds, then one array per series
 * @property {uPlot.Series[]} series
 * @property {uPlot.Axis[]} [axes]
 * @property {uPlot.Scales} [scales]
 * @property {uPlot.Band[]} [bands]
 * @property {[number, number][]} [gaps] shaded x ranges (seconds)
 * @property {(index: number) => void} [onPick] a click on the plot: the index of the point under the cursor
 * @property {number} [height]
 */

/**
 * A chart in `el`, resized with it.
 * @param {HTMLElement} el
 * @param {ChartOptions} o
 */
export function timeChart(el, o) {
  const height = o.height ?? 320;
  /** @type {uPlot.Options} */
  const opts = {
    width: Math.max(320, el.clientWidth || 800),
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), o.tz),
    // The x axis and the legend's time in the chosen language and the chart's zone (Intl), not uPlot's English names.
    series: [{ label: '', value: (_u, ts) => (ts === null || ts === undefined ? '—' : dateTime(ts * 1000, o.tz)) }, ...o.series],
    scales: { x: { time: true }, ...o.scales },
    plugins: [gapShading(o.gaps ?? [])],
  };
  const xAxis = {
    values: (/** @type {uPlot} */ _u, /** @type {number[]} */ splits, /** @type {number} */ _i, /** @type {number} */ _space, /** @type {number} */ incr) => axisLabels(splits, incr, o.tz),
  };
  opts.axes = o.axes ? [{ ...o.axes[0], ...xAxis }, ...o.axes.slice(1)] : [xAxis, {}];
  if (o.bands) opts.bands = o.bands;
  const u = new uPlot(opts, o.data, el);
  if (o.onPick) {
    const pick = o.onPick;
    u.over.addEventListener('click', () => {
      if (u.cursor.idx !== null && u.cursor.idx !== undefined) pick(u.cursor.idx);
    });
  }
  const resize = new ResizeObserver(() => {
    if (!el.isConnected) return resize.disconnect();
    if (el.clientWidth > 0 && Math.abs(el.clientWidth - u.width) > 4) u.setSize({ width: el.clientWidth, height });
  });
  resize.observe(el);
  return u;
}

/** uPlot.join: several series with their own x values on one x axis (nulls where a series has no value). */
export const join = uPlot.join;

/**
 * A series drawn as points only (no line): the quality markers over the load profile.
 * @param {string} label
 * @param {string} colour
 * @returns {uPlot.Series}
 */
export function pointSeries(label, colour) {
  return { label, stroke: colour, fill: colour, width: 0, paths: () => null, points: { show: true, size: 7, stroke: colour, fill: colour } };
}

/** Bars from each x to the next (an hour's imbalance starts at its hour): a path builder for a series' `paths`. */
export const bars = /** @type {uPlot.Series.PathBuilder} */ (uPlot.paths.bars?.({ size: [0.7, 80], align: 1 }));

/** Steps held from each x to the next (an hour's energy over its hour): a path builder for a series' `paths`. */
export const stepped = /** @type {uPlot.Series.PathBuilder} */ (uPlot.paths.stepped?.({ align: 1 }));
