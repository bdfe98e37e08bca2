"""Surname readings that a general pinyin dictionary ranks low or lacks.

pypinyin (0.55) has no surname mode: it reads 单 first as "dan", 曾 as "ceng", and knows no compound
surnames. These tables put the surname reading first (so it survives the reading cap) and treat the
compound surnames of the 百家姓 as one family name. Traditional spellings are listed beside the
simplified ones: pypinyin reads traditional characters itself, but these tables match characters.
"""
from __future__ import annotations

# Single-character surnames whose surname reading is not pypinyin's first reading (or is missing).
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "单": ("shan",), "單": ("shan",), "曾": ("zeng",), "解": ("xie",), "仇": ("qiu",),
    "区": ("ou",), "區": ("ou",), "查": ("zha",), "朴": ("piao",), "盖": ("ge", "gai"), "蓋": ("ge", "gai"),
    "繁": ("po",), "黑": ("he", "hei"), "覃": ("qin", "tan"), "乐": ("yue", "le"), "樂": ("yue", "le"),
    "员": ("yun",), "員": ("yun",), "种": ("chong",), "種": ("chong",), "秘": ("bi",), "折": ("she",),
    "召": ("shao",), "缪": ("miao",), "繆": ("miao",), "翟": ("zhai",), "隗": ("wei",), "句": ("gou",),
    "阚": ("kan",), "闞": ("kan",), "谌": ("chen", "shen"), "諶": ("chen", "shen"), "尉": ("yu", "wei"),
    "长": ("chang",), "長": ("chang",), "柏": ("bai",), "薄": ("bo",), "卜": ("bu",), "贾": ("jia",),
    "賈": ("jia",), "祭": ("zhai",), "郇": ("huan",), "冼": ("xian",), "洗": ("xian",), "蕃": ("pi",),
    "逄": ("pang",), "莘": ("shen",), "藏": ("zang",), "缴": ("zhuo",), "角": ("jue",), "奇": ("ji",),
    "贲": ("ben",), "卷": ("quan",), "重": ("chong",), "华": ("hua",), "華": ("hua",), "任": ("ren",),
    "宁": ("ning",), "寧": ("ning",), "车": ("che",), "車": ("che",), "纪": ("ji",), "紀": ("ji",),
    "叶": ("ye",), "葉": ("ye",), "沈": ("shen",), "石": ("shi",), "陆": ("lu",), "都": ("du",),
    "哈": ("ha",), "那": ("na",), "能": ("nai",), "暴": ("bao",), "瞿": ("qu",), "眭": ("sui",),
}

# Compound surnames read as one family name (simplified and traditional spellings).
COMPOUND_SURNAMES: dict[str, tuple[str, str]] = {}


def _add(readings: str, *spellings: str) -> None:
    first, second = readings.split()
    for spelling in spellings:
        COMPOUND_SURNAMES[spelling] = (first, second)


for _readings, _spellings in (
    ("ou yang", "欧阳 歐陽"), ("si ma", "司马 司馬"), ("zhu ge", "诸葛 諸葛"), ("shang guan", "上官"),
    ("xia hou", "夏侯"), ("wen ren", "闻人 聞人"), ("dong fang", "东方 東方"), ("he lian", "赫连 赫連"),
    ("huang fu", "皇甫"), ("yu chi", "尉迟 尉遲"), ("gong yang", "公羊"), ("tan tai", "澹台 澹臺"),
    ("gong ye", "公冶"), ("zong zheng", "宗政"), ("pu yang", "濮阳 濮陽"), ("chun yu", "淳于"),
    ("chan yu", "单于 單于"), ("tai shu", "太叔"), ("shen tu", "申屠"), ("gong sun", "公孙 公孫"),
    ("zhong sun", "仲孙 仲孫"), ("xuan yuan", "轩辕 軒轅"), ("ling hu", "令狐"), ("zhong li", "钟离 鍾離 鐘離"),
    ("yu wen", "宇文"), ("zhang sun", "长孙 長孫"), ("mu rong", "慕容"), ("xian yu", "鲜于 鮮于"),
    ("lv qiu", "闾丘 閭丘"), ("si tu", "司徒"), ("si kong", "司空"), ("qi guan", "亓官"), ("si kou", "司寇"),
    ("zhuan sun", "颛孙 顓孫"), ("duan mu", "端木"), ("wu ma", "巫马 巫馬"), ("gong xi", "公西"),
    ("qi diao", "漆雕"), ("yue zheng", "乐正 樂正"), ("rang si", "壤驷 壤駟"), ("gong liang", "公良"),
    ("tuo ba", "拓跋"), ("jia gu", "夹谷 夾谷"), ("zai fu", "宰父"), ("gu liang", "谷梁 穀梁"),
    ("duan gan", "段干 段幹"), ("bai li", "百里"), ("dong guo", "东郭 東郭"), ("nan men", "南门 南門"),
    ("hu yan", "呼延"), ("yang she", "羊舌"), ("wei sheng", "微生"), ("liang qiu", "梁丘"),
    ("zuo qiu", "左丘"), ("dong men", "东门 東門"), ("xi men", "西门 西門"), ("nan gong", "南宫 南宮"),
    ("di wu", "第五"), ("mo qi", "万俟 萬俟"),
):
    _add(_readings, *_spellings.split())

COMPOUND_READINGS = frozenset("".join(r) for r in COMPOUND_SURNAMES.values())
