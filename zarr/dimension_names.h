// Dimension names of Zarr arrays as NetCDF sees them.
//
// kerchunk names the dimensions of a NetCDF-4 group's variables by their
// path: in group "grp1" an array's _ARRAY_DIMENSIONS is ["grp1/time", ...]
// (HDF5 dimension scales are named "/grp1/time"). A dimension of the group
// itself or of one of its ancestors is, in NetCDF's scoping, the dimension
// "time" of that group's file. Any other name NetCDF cannot hold is made
// valid rather than dropped (see NetcdfName).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace zm {

// The dimension's path from the root: `name` without leading '/'
// ("/grp1/time" and "grp1/time" are the same dimension; "time" is the
// root's, or an unqualified name).
std::string DimensionPath(std::string_view name);

// Whether NetCDF accepts `name` as a dimension, variable or attribute name:
// not empty, no '/', no control characters, no leading or trailing space.
bool IsNetcdfName(std::string_view name);

// `name` made a NetCDF name: leading '/' removed, every other '/' and
// control character replaced by '_', a leading or trailing space by '_';
// "_" if nothing is left. A valid name is returned unchanged.
std::string NetcdfName(std::string_view name);

// The NetCDF dimension a Zarr dimension name stands for in the file of the
// group at `group` ("" is the root, "a/b" a nested group): "P/x" or "/P/x"
// where P is `group` or one of its ancestors is "x"; any other name is
// NetcdfName(name) (so "other/x" becomes "other_x").
std::string GroupDimensionName(std::string_view name, std::string_view group);

}  // namespace zm
