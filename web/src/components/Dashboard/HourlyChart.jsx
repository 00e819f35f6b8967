import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import ChartCard from './ChartCard.jsx';
import { AXIS, GRID, RECEIVED, SENT } from './charts.js';
import { busiestHour, hourRange } from './format.js';

const axisHour = (hour) => String(hour).padStart(2, '0');

/**
 * Messages received and sent per UTC hour of the day over the range (the
 * route's `byHour`, 24 hours): when customers write and when the shop
 * answers. Stacked, so a bar's height is the hour's traffic.
 */
export default function HourlyChart({ byHour }) {
  const busiest = busiestHour(byHour);
  const summary = busiest
    ? `Busiest: ${hourRange(busiest.hour)} UTC, ${busiest.total} ${busiest.total === 1 ? 'message' : 'messages'}.`
    : 'No messages in this range.';
  return (
    <ChartCard
      title="Busiest hours"
      summary={summary}
      testId="chart-by-hour"
      columns={['Hour (UTC)', 'Received', 'Sent']}
      rows={byHour.map((h) => ({ key: String(h.hour), cells: [hourRange(h.hour), h.messagesReceived, h.messagesSent] }))}
      height={220}
    >
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={byHour} margin={{ top: 8, right: 8, bottom: 0, left: -16 }} accessibilityLayer={false}>
          <CartesianGrid vertical={false} stroke={GRID} />
          <XAxis dataKey="hour" {...AXIS} tickFormatter={axisHour} interval="preserveStart" minTickGap={6} tickLine={false} />
          <YAxis allowDecimals={false} {...AXIS} tickLine={false} axisLine={false} />
          <Tooltip cursor={{ fill: 'rgb(15 118 110 / 0.06)' }} labelFormatter={(hour) => `${hourRange(hour)} UTC`} />
          <Legend iconType="circle" wrapperStyle={{ fontSize: 13, color: '#334155' }} />
          <Bar dataKey="messagesReceived" name="Received" stackId="hour" fill={RECEIVED} isAnimationActive={false} />
          <Bar dataKey="messagesSent" name="Sent" stackId="hour" fill={SENT} radius={[3, 3, 0, 0]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}
