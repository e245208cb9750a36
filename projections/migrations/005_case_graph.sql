-- Case threads: each agency record of a matter is a case node; a thread is the connected
-- component over the refs agencies give (a police case citing a city case, a court filing
-- citing both). Computed when read, like persons. Both directions are stored.
CREATE TABLE case_edge (
    src    text NOT NULL,
    dst    text NOT NULL,
    origin text NOT NULL,   -- the event that stated the ref
    PRIMARY KEY (src, dst)
);
