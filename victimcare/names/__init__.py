"""Names found by sound: pinyin and homophone search through keyed blind indexes (issue 8).

``sound`` turns a name into its sound keys (pure); ``index`` stores them as HMACs and keeps them up
to date; ``search`` looks a search box entry up, ranked; ``reindex`` rebuilds every blind index."""
from .index import index_person, index_rows
from .search import RANKS, matching_ids, ranked_matches, same_sound_ids

__all__ = ["index_person", "index_rows", "matching_ids", "ranked_matches", "same_sound_ids", "RANKS"]
