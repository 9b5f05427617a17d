/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'

import vue from '@vitejs/plugin-vue'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import Components from 'unplugin-vue-components/vite'
import { defineConfig } from 'vite'

// The backend serves the build from relaydesk/web/dist (/assets/* static, SPA fallback for the
// rest). During `npm run dev`, /api is proxied to a running `relaydesk demo` (default port 8123).
const backend = process.env.RELAYDESK_DEV_API ?? 'http://127.0.0.1:8123'

export default defineConfig({
  plugins: [
    vue(),
    // Element Plus components (and their CSS) are imported where a template uses them.
    Components({
      resolvers: [ElementPlusResolver({ importStyle: 'css' })],
      dts: 'src/components.d.ts',
    }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  define: {
    // vue-i18n: no runtime message compiler that would need 'unsafe-eval' under our CSP
    __INTLIFY_JIT_COMPILATION__: true,
    __INTLIFY_DROP_MESSAGE_COMPILER__: false,
    __VUE_I18N_FULL_INSTALL__: false,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
  },
  build: {
    outDir: '../relaydesk/web/dist',
    emptyOutDir: true,
    // the CSP allows only script-src 'self': no inline polyfill in index.html
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 900,
  },
  server: {
    port: 5173,
    proxy: { '/api': { target: backend, changeOrigin: false, ws: true } },
  },
  test: {
    environment: 'happy-dom',
    environmentOptions: { happyDOM: { url: 'http://localhost:5173/', width: 1366, height: 768 } },
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
    testTimeout: 15_000,
    // Element Plus' ES modules import their CSS: let Vite (not Node) load them
    server: { deps: { inline: ['element-plus'] } },
  },
})
