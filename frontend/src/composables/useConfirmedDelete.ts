// Deleting something after the user confirms: the question, then the call, then "deleted" or
// the error as text. Returns whether it was deleted (cancelled or failed: false).
import { ElMessage, ElMessageBox } from 'element-plus'
import { useI18n } from 'vue-i18n'

import { useErrorText } from './useApiError'

export function useConfirmedDelete() {
  const { t } = useI18n()
  const errorText = useErrorText()
  return async (question: string, remove: () => Promise<void>): Promise<boolean> => {
    try {
      await ElMessageBox.confirm(question, t('common.confirmTitle'), {
        type: 'warning', confirmButtonText: t('common.delete'), cancelButtonText: t('common.cancel'),
      })
    } catch {
      return false
    }
    try {
      await remove()
      ElMessage.success(t('common.deleted'))
      return true
    } catch (e) {
      ElMessage.error(errorText(e))
      return false
    }
  }
}
