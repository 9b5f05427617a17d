import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// One self-contained script (IIFE, no chunks, CSS inside) served by Relaydesk at
// /widget/widget.js. The build lands in the Python package, like the workbench's.
export default defineConfig({
  build: {
    outDir: fileURLToPath(new URL('../relaydesk/web/widget/dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2019',
    sourcemap: false,
    lib: {
      entry: fileURLToPath(new URL('src/main.ts', import.meta.url)),
      name: 'RelaydeskChat',
      formats: ['iife'],
      fileName: () => 'widget.js',
    },
  },
})
