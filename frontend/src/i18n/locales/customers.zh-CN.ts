// 客户管理界面的中文文案（属性定义、身份标识、合并建议、拆分）；键与 customers.en.ts 完全一致。
const customersZh = {
  customerAdmin: {
    types: { string: '文本', number: '数字', boolean: '是 / 否', date: '日期', enum: '选项' },
    kinds: {
      phone: '手机 / 电话', email: '邮箱', visitor: '网页访客', openid: '微信 openid',
      unionid: '微信 unionid', app_user: '应用用户 ID', external: '外部系统 ID',
    },
    namespaceHint: {
      openid: '应用 ID，例如 wx1234abcd', unionid: '开放平台账号（可选）',
      app_user: '应用，例如 website', external: '连接器实例，例如 crm:contact',
    },
    valueHint: {
      phone: '138 1234 5678、+86 138-1234-5678 或 +44 20 7946 0958', email: '邮箱地址',
      visitor: '访客 ID', openid: 'openid', unionid: 'unionid', app_user: '应用内的用户 ID',
      external: '该系统中的 ID',
    },
    why: {
      unverified_match: '相同的未验证标识', verified_match: '相同的已验证标识', identity_taken_over: '标识被接管',
      profile_duplicate: '资料相同',
    },
    attributes: {
      title: '客户属性', new: '新建属性', createTitle: '新建属性', editTitle: '编辑属性',
      intro: '每位客户都可以有的类型化字段。客服在客户表单中按类型填写；个人信息类属性像手机号一样脱敏显示。',
      key: '键', keyHint: '小写字母、数字和下划线', label: '名称', labelZh: '名称（中文）',
      labelEn: '名称（英文）', type: '类型', options: '选项', optionsHint: '输入选项后按回车',
      required: '必填', pii: '个人信息', piiHint: '对无权查看明文个人信息的角色脱敏',
      description: '说明', flags: '标记', empty: '还没有定义属性',
      deleteConfirm: '删除属性 {key}？客户上已有的值会保留为普通字段。',
      section: '属性',
      locked: '该客户的部分属性对您的角色已脱敏，因此无法在此编辑。',
    },
    identities: {
      title: '身份标识', add: '添加标识', added: '已添加标识', kind: '类型', namespace: '命名空间',
      value: '值', verified: '已验证', verify: '标记为已验证', verifiedHint: '客户已证明归其所有',
      removeConfirm: '删除标识 {value}？', empty: '没有身份标识', since: '来自 {source}，{time}',
      audited: '已查看明文（已审计）',
    },
    split: {
      button: '拆分（{n}）', title: '拆分为新客户',
      prompt: '选中的 {n} 个标识将移到一位新客户名下。新客户名称：', confirm: '拆分',
      done: '已创建新客户 {name}',
    },
    duplicates: {
      title: '重复客户',
      intro: '看起来是同一个人的客户。合并时保留已有资料，把较新的资料并入其中。',
      newer: '较新的资料', existing: '已有的资料', reasons: '原因', merge: '合并', dismiss: '忽略',
      merged: '已合并到 {name}', dismissed: '已忽略该建议', empty: '没有合并建议',
      status: { open: '待处理', dismissed: '已忽略', merged: '已合并', all: '全部' },
      confirmTitle: '合并这两位客户？', confirmText: '{merged} 将合并到 {survivor}。',
      keeps: '保留', moves: '移过去的标识', filled: '补全的字段', tags: '新增的标签',
      attributes: '带过去的属性', conflicts: '保持不变的属性（双方都有值）',
      after: '合并后将无法再打开 {merged}；其会话归属于保留的客户。',
    },
  },
}

export default customersZh
