// ECharts, only the parts the dashboard draws (tree-shaken; loaded with the dashboard's route).
// The canvas renderer builds no code at run time, so the strict CSP (script-src 'self') holds.
import { BarChart, LineChart, PieChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import * as echarts from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer])

export { echarts }
