// 工作台实时部分的中文文案（附件、路由决策、点击外呼、测试通知），与 workbench.en.ts 键完全相同。
const workbenchZhCN = {
  workbench: {
    files: {
      download: '下载', preview: '预览', hidePreview: '收起预览',
      notStored: '该文件未被保存，无法下载。',
      missing: '该文件已不在存储中。',
      notFound: '找不到该文件，或您已无权查看此会话。',
      forbidden: '您的角色无权下载此会话的文件。',
      failed: '文件下载失败：{message}',
    },
    routing: {
      show: '为什么是这个优先级和团队？', title: '路由决策', loading: '正在读取决策…',
      none: '此会话未评估任何优先级规则：按常规路由。',
      outcomes: {
        matched: '命中规则“{rule}”', no_match: '没有规则命中：按常规路由',
        failed: '外部系统不可用 → 按常规路由',
      },
      reason: '原因', team: '团队', priority: '优先级', skills: '技能', noSkills: '无',
      checks: '已尝试的规则', latency: '用时 {ms} 毫秒，{time}',
      results: {
        matched: '命中', no_match: '未命中', failed: '查询失败',
        not_applicable: '不适用', skipped: '已跳过',
      },
      error: '无法读取路由决策：{message}',
    },
    dial: {
      call: '外呼', noPhone: '客户没有电话号码',
      ok: '正在呼叫 {number}：您的话机（座席 {seat}）会先响铃。',
      refused: '呼叫中心未能发起呼叫：{message}',
      kinds: {
        config: '配置问题（请联系管理员）', transient: '临时问题：请稍后再试',
        system: '呼叫中心返回异常',
      },
      codes: {
        no_number: '客户没有可拨打的电话号码。',
        no_voice_inbox: '点击外呼需要一个语音渠道：当前没有启用的语音渠道。',
        no_seat: '尚未为您配置呼叫中心座席。',
        dial_not_configured: '该语音渠道未配置点击外呼。',
        no_agent: '点击外呼需要已登录的坐席和会话的客户。',
        forbidden: '您的角色无权外呼。',
      },
      failed: '无法发起呼叫：{message}',
    },
    notifications: {
      test: '发送测试通知', testSent: '测试通知已发送',
      testFailed: '测试通知发送失败：{message}',
    },
  },
}

export default workbenchZhCN
