"""Workers ask in everyday words; laws are written in legal ones.

"单位不签合同" is "用人单位未订立书面劳动合同" in the law, "辞职" is "劳动者解除劳动
合同", "加班费" is "延长工作时间的工资报酬". Neither jieba tokens nor the small
embedding model bridge that gap, so the question's lexical query is widened with
the legal terms of the everyday words it contains. The list is short and explicit
on purpose: every entry is a phrase the bundled laws actually use.
"""

from __future__ import annotations

# everyday phrase -> legal terms that say the same in the laws
EVERYDAY_TO_LEGAL: dict[str, str] = {
    "辞职": "劳动者 解除劳动合同 提前三十日 书面形式 通知用人单位",
    "离职": "解除劳动合同 终止劳动合同",
    "跳槽": "解除劳动合同",
    "开除": "用人单位 解除劳动合同",
    "辞退": "用人单位 解除劳动合同",
    "裁员": "裁减人员",
    "炒鱿鱼": "用人单位 解除劳动合同",
    "不签": "未订立 书面劳动合同",
    "没签": "未订立 书面劳动合同",
    "签合同": "订立 劳动合同",
    "签订": "订立",
    "加班费": "延长工作时间 工资报酬 加班费",
    "加班工资": "延长工作时间 工资报酬 正常工作时间工资",
    "加班": "延长工作时间",
    "最长": "不得超过",
    "最多": "不得超过",
    "薪水": "工资",
    "薪资": "工资",
    "拖欠": "拖欠 克扣 劳动报酬",
    "年假": "年休假",
    "病假": "医疗期",
    "怀孕": "孕期",
    "生孩子": "生育 产假",
    "喂奶": "哺乳",
    "赔偿金": "赔偿金 经济补偿",
    "补偿金": "经济补偿",
    "社保": "社会保险",
    "公司": "用人单位",
    "单位": "用人单位",
    "老板": "用人单位",
    "员工": "劳动者 职工",
    "工人": "劳动者 职工",
    "周末": "休息日",
    "每天": "每日",
    "一天": "每日",
    "过节": "法定休假日",
    "会费": "会费 工会经费",
}

# Longest first, so that "加班工资" is read before "加班" and "工资".
_PHRASES = sorted(EVERYDAY_TO_LEGAL, key=len, reverse=True)


def legal_terms(question: str) -> str:
    """The legal terms for the everyday phrases in the question, space-separated
    ("" when there are none). A phrase inside a longer matched one is not read again."""
    taken = [False] * len(question)
    found: list[str] = []
    for phrase in _PHRASES:
        start = question.find(phrase)
        while start != -1:
            end = start + len(phrase)
            if not any(taken[start:end]):
                taken[start:end] = [True] * len(phrase)
                terms = EVERYDAY_TO_LEGAL[phrase]
                if terms not in found and terms not in question:
                    found.append(terms)
            start = question.find(phrase, end)
    return " ".join(found)
