import 'element-plus/theme-chalk/base.css'
import 'element-plus/theme-chalk/el-message.css'
import 'element-plus/theme-chalk/el-message-box.css'
import 'element-plus/theme-chalk/el-overlay.css'
import './styles.css'

import { createPinia } from 'pinia'
import { createApp } from 'vue'

import App from './App.vue'
import { currentLocale, i18n } from './i18n'
import { makeRouter } from './router'
import { useAuthStore } from './stores/auth'

const app = createApp(App)
app.use(createPinia())
app.use(i18n)
const router = makeRouter()
app.use(router)

document.documentElement.lang = currentLocale()

// the server ended the session (expired, revoked): back to the sign-in page, saying why
useAuthStore().setOnEnded((reason) => {
  const here = router.currentRoute.value
  if (here.name !== 'login') {
    void router.replace({ name: 'login', query: { reason, redirect: here.fullPath } })
  }
})

app.mount('#app')
