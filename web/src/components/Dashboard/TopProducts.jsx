import { Bar, BarChart, CartesianGrid, LabelList, ResponsiveContainer, XAxis, YAxis } from 'recharts';
import ChartCard from './ChartCard.jsx';
import { AXIS, GRID, RECEIVED } from './charts.js';

/** The products new conversations started from (the route's `topProducts`). */
export default function TopProducts({ products, newConversations }) {
  const fromProducts = products.reduce((n, p) => n + p.conversations, 0);
  const summary =
    products.length === 0
      ? 'No new conversation started from a product in this range.'
      : `${fromProducts} of ${newConversations} new conversations started from a product; ${products[0].name} leads.`;
  return (
    <ChartCard
      title="Top products by conversations"
      summary={summary}
      testId="chart-products"
      columns={['Product', 'Conversations']}
      rows={products.map((p) => ({ key: p.productId, cells: [p.name, p.conversations] }))}
      height={Math.max(120, products.length * 40 + 24)}
    >
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={products} layout="vertical" margin={{ top: 4, right: 32, bottom: 4, left: 8 }} accessibilityLayer={false}>
          <CartesianGrid horizontal={false} stroke={GRID} />
          <XAxis type="number" allowDecimals={false} {...AXIS} tickLine={false} />
          <YAxis type="category" dataKey="name" width={150} {...AXIS} tickLine={false} axisLine={false} />
          <Bar dataKey="conversations" name="Conversations" fill={RECEIVED} radius={[0, 4, 4, 0]} barSize={22} isAnimationActive={false}>
            <LabelList dataKey="conversations" position="right" fill="#334155" fontSize={12} />
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}
