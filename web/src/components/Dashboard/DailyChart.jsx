import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import ChartCard from './ChartCard.jsx';
import { AXIS, GRID, RECEIVED, SENT } from './charts.js';
import { longDate, shortDate } from './format.js';

/** Messages received and sent per UTC date (the route's `byDay`). */
export default function DailyChart({ byDay }) {
  const data = byDay.map((d) => ({ ...d, label: shortDate(d.date) }));
  const busiest = byDay.reduce(
    (best, d) => (d.messagesReceived + d.messagesSent > best.total ? { date: d.date, total: d.messagesReceived + d.messagesSent } : best),
    { date: null, total: 0 },
  );
  const summary = busiest.date
    ? `Busiest day: ${longDate(busiest.date)}, ${busiest.total} messages. Dates in UTC.`
    : 'No messages in this range.';
  return (
    <ChartCard
      title="Messages by day"
      summary={summary}
      testId="chart-by-day"
      columns={['Date', 'Received', 'Sent']}
      rows={byDay.map((d) => ({ key: d.date, cells: [longDate(d.date), d.messagesReceived, d.messagesSent] }))}
    >
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: -16 }} accessibilityLayer={false}>
          <CartesianGrid vertical={false} stroke={GRID} />
          <XAxis dataKey="label" {...AXIS} minTickGap={16} tickLine={false} />
          <YAxis allowDecimals={false} {...AXIS} tickLine={false} axisLine={false} />
          <Tooltip cursor={{ fill: 'rgb(15 118 110 / 0.06)' }} />
          <Legend iconType="circle" wrapperStyle={{ fontSize: 13, color: '#334155' }} />
          <Bar dataKey="messagesReceived" name="Received" fill={RECEIVED} radius={[3, 3, 0, 0]} isAnimationActive={false} />
          <Bar dataKey="messagesSent" name="Sent" fill={SENT} radius={[3, 3, 0, 0]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}
