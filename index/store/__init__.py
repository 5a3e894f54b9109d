"""The index store, by concern: interface.py (what the bot asks of any store, and its
errors), memory.py (the contents and searches held in memory), folder.py (FAISS + bm25s
files in a folder), versions.py (CURRENT, the writer lock, atomic writes, pruning),
manifest.py (how an index was built), ann.py (approximate search past a size), milvus.py and
milvus_client.py (the same store in Milvus), spec.py (UNIONQA_STORE: which engine).

The folder store: a FAISS inner-product index of the normalized chunk
embeddings, a FAISS inner-product index of the normalized chunk
embeddings, a BM25 index of the jieba tokens, the chunks and documents
themselves, and a manifest that says how it was built.

Layout of an index folder::

    index_dir/
      CURRENT            name of the live version folder (replaced atomically)
      v-<stamp>/         one complete, immutable version
        manifest.json
        documents.jsonl  full documents, so sources can be looked up
        chunks.jsonl     chunk records with their BM25 tokens and FAISS ids
        dense.faiss      IndexIDMap2(IndexFlatIP): the exact vectors
        dense-ann.faiss  past the ANN threshold: IVF fast-scan codes of them (index/store/ann.py)
        bm25/            bm25s files
        sentences.npz    each chunk's answer units (spans in chunk.text) and their embeddings
        checksums.json   written last: every file's size and SHA-256 (index/store/versions.py)

A save writes a whole new version folder and only then points CURRENT at it,
so a crash at any moment leaves the previous version loadable, and a reader
always sees one complete version. A reader that finds CURRENT broken, or the
version it names damaged, reads the newest complete version instead and says so
(`IndexStore.warning`); with none complete it refuses, with what to do.
"""
