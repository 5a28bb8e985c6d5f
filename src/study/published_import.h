#pragma once
// The published results a study compares itself with (its `published` and `published_claims`
// files), imported into its database once, as `ecocompute import` does: their own source,
// never pooled with measured runs.
#include <string>

#include "store/store.h"
#include "study/study_file.h"

namespace eco::study {

// True when the study names no published table, or the table (same SHA-256) is in the database.
bool published_present(const StudyFile& study, store::Store& st);

// Imports the table (and claims) unless present; returns whether it imported. Both files are
// read and parsed before the database changes; errors name the file.
bool import_published(const StudyFile& study, store::Store& st);

}  // namespace eco::study
