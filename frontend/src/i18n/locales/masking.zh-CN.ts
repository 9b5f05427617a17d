// 脱敏策略页面（views/admin/masking）的中文文案；键与 masking.en.ts 完全一致。
const maskingZh = {
  masking: {
    title: '脱敏策略',
    intro: '谁能看到客户个人信息明文、哪些自定义属性属于个人信息，以及脱敏后的显示格式。脱敏由服务器完成，本页只调整哪些角色可以例外。',
    roles: {
      title: '角色',
      intro: '查看明文：该角色的用户在所有位置看到未脱敏的个人信息。可查看单个字段：平时仍脱敏，但可逐个字段查看明文，每次查看都记入审计日志。',
      role: '角色', seesClear: '查看明文', mayReveal: '可查看单个字段（审计）', effect: '该角色看到的内容',
      editable: '能否修改', canEdit: '可以',
      effects: {
        clear: '个人信息明文', reveal: '脱敏；可按需查看单个字段（记入审计）',
        masked: '始终脱敏',
      },
      locks: {
        builtin: '内置角色只读；如需调整请新建自定义角色',
        wildcard: '拥有全部权限（*）',
        noManage: '需要管理角色的权限',
        department: '您的权限仅限本部门：只能修改部门范围的角色',
        beyondYours: '该角色包含您没有的权限：{missing}',
      },
      saved: '角色 {name} 已保存',
      needRead: '查看角色需要“查看角色及其权限”权限。',
    },
    attributes: {
      title: '个人信息类客户属性',
      intro: '在此开启的自定义属性视为个人信息：对无明文权限的角色脱敏显示，与手机号相同。',
      personal: '个人信息', empty: '尚未定义自定义属性',
      readOnly: '修改需要“修改组织设置”权限。',
      needRead: '查看属性需要“查看客户”权限。',
      nowPersonal: '{name} 已作为个人信息脱敏', nowPlain: '{name} 不再脱敏',
    },
    formats: {
      title: '脱敏格式',
      intro: '所有组织统一、不可修改。示例列出脱敏前后的值。',
      kind: '类型', rule: '规则', example: '示例',
      kinds: {
        phone: '电话', idCard: '身份证', email: '电子邮箱', bankCard: '银行卡', address: '地址',
        name: '姓名', freeText: '自由文本',
      },
      rules: {
        phone: '大陆手机号：保留国家码、前 3 位和后 4 位。固定电话：保留区号和后 4 位。国际号码：保留国家码和后 4 位。',
        idCard: '保留前 3 位和后 4 位，长度不变。',
        email: '保留域名前部分的首尾字母及域名。',
        bankCard: '仅保留后 4 位，位数不变。',
        address: '保留省、市、区县，隐藏街道门牌。其他地址保留城市和国家。',
        name: '中文姓名保留姓氏；其他姓名保留每个单词的首字母。',
        freeText: '姓名、标签、备注和连接器输出中出现的手机号、身份证号、银行卡号和邮箱地址会被脱敏；SO1391… 这类订单编号保留原样。',
      },
    },
  },
}

export default maskingZh
