import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import ChartCard from './ChartCard.jsx';
import { AXIS, GRID, P50, P90 } from './charts.js';
import { formatDuration, rangeLabel, toMinutes } from './format.js';

/** An axis label in minutes, or whole hours from two hours on. */
function axisLabel(minutes) {
  return minutes >= 120 ? `${Math.round(minutes / 60)} h` : `${minutes} min`;
}

/** Ticks at whole hours (at most 6) when the figures reach beyond two hours; else the chart's own. */
function hourTicks(maxMinutes) {
  if (!(maxMinutes > 120)) return undefined;
  const hours = maxMinutes / 60;
  const step = [1, 2, 3, 4, 6, 8, 12, 24, 48].find((h) => hours / h <= 5) ?? Math.ceil(hours / 5);
  return Array.from({ length: Math.ceil(hours / step) + 1 }, (_, i) => i * step * 60);
}

/**
 * First-response time over the range: the route's p50 and p90 of each
 * bucket (a day, or about a week), in minutes.
 */
export default function ResponseTrend({ trend }) {
  const data = trend.map((b) => ({
    label: rangeLabel(b.first, b.last),
    p50: toMinutes(b.p50),
    p90: toMinutes(b.p90),
  }));
  const ticks = hourTicks(Math.max(0, ...data.map((d) => Math.max(d.p50 ?? 0, d.p90 ?? 0))));
  const answered = trend.filter((b) => b.p50 !== null);
  let summary = 'No answered conversation in this range.';
  if (answered.length >= 2) {
    const [first, last] = [answered[0], answered[answered.length - 1]];
    summary = `Median from ${formatDuration(first.p50)} (${rangeLabel(first.first, first.last)}) to ${formatDuration(last.p50)} (${rangeLabel(last.first, last.last)}).`;
  } else if (answered.length === 1) {
    summary = `Median ${formatDuration(answered[0].p50)} (${rangeLabel(answered[0].first, answered[0].last)}).`;
  }
  const unit = trend.length > 0 && trend[trend.length - 1].days === 1 ? 'day' : 'week';
  return (
    <ChartCard
      title={`First response time by ${unit}`}
      summary={summary}
      testId="chart-response"
      columns={['Period', 'Median', '9 in 10 within']}
      rows={trend.map((b) => ({
        key: b.first,
        cells: [rangeLabel(b.first, b.last), formatDuration(b.p50), formatDuration(b.p90)],
      }))}
    >
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: -8 }} accessibilityLayer={false}>
          <CartesianGrid vertical={false} stroke={GRID} />
          <XAxis dataKey="label" {...AXIS} minTickGap={16} tickLine={false} />
          <YAxis
            {...AXIS}
            tickLine={false}
            axisLine={false}
            tickFormatter={axisLabel}
            width={56}
            ticks={ticks}
            domain={ticks ? [0, ticks[ticks.length - 1]] : [0, 'auto']}
          />
          <Tooltip formatter={(v) => (v === null ? '—' : formatDuration(v * 60))} />
          <Legend iconType="plainline" wrapperStyle={{ fontSize: 13, color: '#334155' }} />
          <Line dataKey="p50" name="Median" stroke={P50} strokeWidth={2.5} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
          <Line
            dataKey="p90"
            name="9 in 10 within"
            stroke={P90}
            strokeWidth={2}
            strokeDasharray="5 4"
            dot={{ r: 3 }}
            connectNulls
            isAnimationActive={false}
          />
        </LineChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}
